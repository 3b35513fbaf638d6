"""Sending one notification: HTTP (Alertmanager, webhook, Slack, PagerDuty) and SMTP.

A sender either returns (delivered) or raises :class:`DeliveryError`, which says
whether a retry can help (connection refused, timeout, HTTP 408/429/5xx, SMTP
4xx) or not (other HTTP 4xx, SMTP 5xx: the request itself is wrong; a
notification that cannot even be built from its alert, which no retry changes).
Error messages never contain secrets: every secret of the notifier is masked.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import TypeVar

from otel_ml._config import Secret
from otel_ml.alerting._notifier_config import (
    AlertmanagerConfig,
    EmailConfig,
    NotifierConfig,
    PagerDutyConfig,
    SlackConfig,
    WebhookConfig,
)
from otel_ml.alerting._payloads import (
    alertmanager_alert,
    email_message,
    pagerduty_event,
    slack_message,
    webhook_payload,
)
from otel_ml.alerting._transition import AlertTransition

__all__ = ["DeliveryError", "Sender", "make_sender"]

Sender = Callable[[AlertTransition, float], None]
"""Delivers one transition at time ``now``; raises :class:`DeliveryError`."""

_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})

_T = TypeVar("_T")


class DeliveryError(Exception):
    """A notification was not delivered.

    Attributes
    ----------
    retryable
        Whether trying again later can succeed.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _secrets(config: NotifierConfig) -> list[str]:
    found: list[str] = []
    for value in vars(config).values():
        if isinstance(value, Secret):
            found.append(value.reveal())
        elif isinstance(value, Mapping):
            found.extend(v.reveal() for v in value.values() if isinstance(v, Secret))
    return [s for s in found if s]


def _build(make: Callable[[], _T]) -> _T:
    """The notification built from the alert; a failure here is final, not retried."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - counted as failed by the dispatcher, and logged
        raise DeliveryError(
            f"cannot build the notification ({type(exc).__name__}: {exc})", retryable=False
        ) from None


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _post_json(
    url: str, body: object, *, headers: Mapping[str, str], timeout: float, secrets: list[str],
    key: str | None,
) -> None:
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "otel-ml-alerting")
    if key is not None:  # the notification's id, the same on every retry
        request.add_header("Idempotency-Key", key)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace")
        raise DeliveryError(
            _mask(f"HTTP {exc.code}: {detail}", secrets), retryable=exc.code in _RETRYABLE_HTTP
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        message = _mask(f"{type(exc).__name__}: {exc}", secrets)
        raise DeliveryError(message, retryable=True) from None


def _send_email(config: EmailConfig, t: AlertTransition, secrets: list[str]) -> None:
    msg = _build(lambda: email_message(
        t, from_addr=config.from_addr, to=config.to, subject_prefix=config.subject_prefix
    ))
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=config.tls_ca_file))
                smtp.ehlo()
            if config.username is not None and config.password is not None:
                smtp.login(config.username, config.password.reveal())
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            _mask(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", secrets),
            retryable=exc.smtp_code < 500,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        message = _mask(f"{type(exc).__name__}: {exc}", secrets)
        raise DeliveryError(message, retryable=True) from None


def make_sender(config: NotifierConfig) -> Sender:
    """The function that delivers a transition to ``config``'s destination.

    Whatever goes wrong inside comes out as a :class:`DeliveryError` with every
    secret of the notifier masked.
    """
    send = _make_sender(config)
    secrets = _secrets(config)

    def guarded(t: AlertTransition, now: float) -> None:
        try:
            send(t, now)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is a (retryable) delivery failure
            message = _mask(f"{type(exc).__name__}: {exc}", secrets)
            raise DeliveryError(message, retryable=True) from None

    return guarded


def _make_sender(config: NotifierConfig) -> Sender:
    secrets = _secrets(config)
    timeout = config.timeout

    if isinstance(config, AlertmanagerConfig):
        am = config
        headers = {k: v.reveal() for k, v in am.headers.items()}

        def send_alertmanager(t: AlertTransition, now: float) -> None:
            body = _build(lambda: [alertmanager_alert(t, now=now,
                                                      valid_for=4 * am.resend_interval)])
            _post_json(f"{am.url}/api/v2/alerts", body, headers=headers, timeout=timeout,
                       secrets=secrets, key=None)  # re-posts must reach it

        return send_alertmanager
    if isinstance(config, WebhookConfig):
        hook = config
        hook_headers = {k: v.reveal() for k, v in hook.headers.items()}

        def send_webhook(t: AlertTransition, now: float) -> None:
            body = _build(lambda: webhook_payload(t, receiver=hook.name))
            _post_json(hook.url.reveal(), body, headers=hook_headers, timeout=timeout,
                       secrets=secrets, key=t.notification_id)

        return send_webhook
    if isinstance(config, SlackConfig):
        slack = config

        def send_slack(t: AlertTransition, now: float) -> None:
            body = _build(lambda: slack_message(t))
            _post_json(slack.webhook_url.reveal(), body, headers={}, timeout=timeout,
                       secrets=secrets, key=t.notification_id)

        return send_slack
    if isinstance(config, PagerDutyConfig):
        pd = config

        def send_pagerduty(t: AlertTransition, now: float) -> None:
            body = _build(lambda: pagerduty_event(t, routing_key=pd.routing_key.reveal(),
                                                  source=pd.source))
            _post_json(pd.url, body, headers={}, timeout=timeout, secrets=secrets,
                       key=t.notification_id)

        return send_pagerduty
    email = config

    def send_email(t: AlertTransition, now: float) -> None:
        _send_email(email, t, secrets)

    return send_email
