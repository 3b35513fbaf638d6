"""Typed configuration of the notifiers (the ``notifiers:`` section).

``notifiers`` maps a notifier name to its settings; ``type`` picks one of
``alertmanager``, ``webhook``, ``slack``, ``pagerduty``, ``email``. Every
notifier has a ``route`` (which severities and models it receives), a
``timeout`` and a ``retry`` policy. Secrets are ``{env: NAME}`` or
``{file: path}`` (relative to the configuration file), read with the shared
reader of :mod:`otel_ml._config`.
"""

from __future__ import annotations

import enum
import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml._config import (
    Secret,
    check_keys,
    config_error,
    read_bool,
    read_duration,
    read_float,
    read_int,
    read_mapping,
    read_secret,
    read_str,
    read_str_list,
)
from otel_ml.alerting._severity import Severity

__all__ = [
    "AlertmanagerConfig",
    "EmailConfig",
    "NotifierConfig",
    "NotifierType",
    "PagerDutyConfig",
    "RetryPolicy",
    "Route",
    "SlackConfig",
    "WebhookConfig",
    "parse_notifier",
    "read_retry_policy",
]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class NotifierType(str, enum.Enum):
    """The kinds of notifier."""

    ALERTMANAGER = "alertmanager"
    WEBHOOK = "webhook"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    EMAIL = "email"


@dataclass(frozen=True)
class Route:
    """Which alerts a notifier receives: severities at least ``min_severity``
    (or exactly ``severities``) and models matching one of ``models`` (globs).

    Examples
    --------
    >>> r = Route(severities=frozenset({Severity.CRITICAL}), models=("churn*",))
    >>> r.matches(Severity.CRITICAL, "churn-eu"), r.matches(Severity.WARNING, "churn-eu")
    (True, False)
    """

    severities: frozenset[Severity] = frozenset(Severity)
    models: tuple[str, ...] = ("*",)

    def matches(self, severity: Severity, model: str) -> bool:
        """Whether an alert of this severity and model goes to the notifier."""
        return severity in self.severities and any(
            fnmatch.fnmatchcase(model, pattern) for pattern in self.models
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_backoff``; a
    notification still undelivered after ``max_age`` seconds is dropped (and
    counted as ``dropped``).

    Examples
    --------
    >>> p = RetryPolicy(initial_backoff=1.0, max_backoff=8.0, jitter=0.0)
    >>> [p.backoff(n, random.Random(0)) for n in range(1, 6)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    """

    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_age: float = 24 * 3600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The nominal delay ``initial * multiplier**(attempt-1)``, capped, is
        scaled by a factor drawn uniformly from ``[1 - jitter, 1]``.
        """
        exponent = min(max(attempt - 1, 0), 64)
        nominal = min(self.max_backoff, self.initial_backoff * self.multiplier**exponent)
        return nominal * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class _Common:
    name: str
    route: Route
    send_resolved: bool
    timeout: float
    retry: RetryPolicy


@dataclass(frozen=True)
class AlertmanagerConfig(_Common):
    """Prometheus Alertmanager, API v2 (``POST {url}/api/v2/alerts``).

    Firing alerts are re-posted every ``resend_interval`` seconds with
    ``endsAt`` = now + 4 × ``resend_interval``, so Alertmanager keeps them
    until they resolve; a resolution posts ``endsAt`` = the resolution time.
    """

    url: str
    resend_interval: float = 60.0
    headers: Mapping[str, Secret] = field(default_factory=dict)
    type: NotifierType = NotifierType.ALERTMANAGER


@dataclass(frozen=True)
class WebhookConfig(_Common):
    """A generic JSON webhook (the Alertmanager webhook shape, version 4)."""

    url: Secret
    headers: Mapping[str, Secret] = field(default_factory=dict)
    type: NotifierType = NotifierType.WEBHOOK


@dataclass(frozen=True)
class SlackConfig(_Common):
    """A Slack (or Mattermost, Rocket.Chat…) incoming webhook: ``text`` + ``blocks``."""

    webhook_url: Secret
    type: NotifierType = NotifierType.SLACK


@dataclass(frozen=True)
class PagerDutyConfig(_Common):
    """PagerDuty Events API v2: trigger and resolve with the alert id as ``dedup_key``."""

    routing_key: Secret
    url: str = PAGERDUTY_EVENTS_URL
    source: str = "otel-ml-evaluator"
    type: NotifierType = NotifierType.PAGERDUTY


@dataclass(frozen=True)
class EmailConfig(_Common):
    """Email over SMTP (``smtplib``), optional STARTTLS and authentication.

    ``tls_ca_file`` names a CA bundle to verify the server with (a private
    CA); the system's trust store otherwise.
    """

    host: str
    port: int
    from_addr: str
    to: tuple[str, ...]
    starttls: bool = True
    username: str | None = None
    password: Secret | None = None
    subject_prefix: str = "[otel-ml]"
    tls_ca_file: str | None = None
    type: NotifierType = NotifierType.EMAIL


NotifierConfig = AlertmanagerConfig | WebhookConfig | SlackConfig | PagerDutyConfig | EmailConfig

_COMMON_KEYS = ("type", "route", "send_resolved", "timeout", "retry")
_TYPE_KEYS: dict[NotifierType, tuple[str, ...]] = {
    NotifierType.ALERTMANAGER: ("url", "resend_interval", "headers"),
    NotifierType.WEBHOOK: ("url", "headers"),
    NotifierType.SLACK: ("webhook_url",),
    NotifierType.PAGERDUTY: ("routing_key", "url", "source"),
    NotifierType.EMAIL: (
        "host", "port", "from", "to", "starttls", "username", "password", "subject_prefix",
        "tls_ca_file",
    ),
}


def _route(value: object, path: str) -> Route:
    raw = read_mapping(value, path)
    check_keys(raw, ("severities", "min_severity", "models"), path)
    severities = frozenset(Severity)
    if "severities" in raw and "min_severity" in raw:
        raise config_error(path, "both severities and min_severity are set", "keep one of them")
    if "severities" in raw:
        severities = frozenset(
            Severity.parse(s, f"{path}.severities[{i}]")
            for i, s in enumerate(read_str_list(raw["severities"], f"{path}.severities"))
        )
    if "min_severity" in raw:
        lowest = Severity.parse(raw["min_severity"], f"{path}.min_severity")
        severities = frozenset(s for s in Severity if not s < lowest)
    models = read_str_list(raw.get("models", ["*"]), f"{path}.models")
    return Route(severities=severities, models=models)


def read_retry_policy(value: object, path: str, base: RetryPolicy | None = None) -> RetryPolicy:
    """A ``retry:`` mapping (keys left out keep ``base``'s values): the notifiers' and the
    evaluator sinks' retry policy."""
    raw = read_mapping(value, path)
    check_keys(raw, ("initial_backoff", "max_backoff", "multiplier", "jitter", "max_age"), path)
    base = base or RetryPolicy()
    policy = RetryPolicy(
        initial_backoff=read_duration(raw.get("initial_backoff", base.initial_backoff),
                                      f"{path}.initial_backoff"),
        max_backoff=read_duration(raw.get("max_backoff", base.max_backoff), f"{path}.max_backoff"),
        multiplier=read_float(raw.get("multiplier", base.multiplier), f"{path}.multiplier",
                              minimum=1.0),
        jitter=read_float(raw.get("jitter", base.jitter), f"{path}.jitter", minimum=0.0),
        max_age=read_duration(raw.get("max_age", base.max_age), f"{path}.max_age"),
    )
    if policy.jitter > 1.0:
        raise config_error(f"{path}.jitter", f"{policy.jitter!r} is outside [0, 1]",
                           "fix the value")
    if policy.max_backoff < policy.initial_backoff:
        raise config_error(f"{path}.max_backoff", "is below initial_backoff", "raise it")
    return policy


def _url(value: object, path: str, *, secret: bool = False) -> str:
    url = read_str(value, path)
    if not url.startswith(("http://", "https://")):
        shown = "the URL" if secret else repr(url)
        raise config_error(path, f"{shown} is not an HTTP URL", "start it with http:// or https://")
    return url.rstrip("/")


def _headers(value: object, path: str, base: Path | None) -> dict[str, Secret]:
    raw = read_mapping(value, path)
    return {k: read_secret(v, f"{path}.{k}", base=base, plain=True) for k, v in raw.items()}


def parse_notifier(
    name: str, value: object, path: str, *, base: Path | None = None
) -> NotifierConfig:
    """Parse one entry of ``notifiers:`` (relative secret files start at ``base``)."""
    raw = read_mapping(value, path)
    if "type" not in raw:
        kinds = ", ".join(t.value for t in NotifierType)
        raise config_error(f"{path}.type", "missing", f"use one of {kinds}")
    try:
        kind = NotifierType(raw["type"])
    except ValueError:
        kinds = ", ".join(t.value for t in NotifierType)
        raise config_error(
            f"{path}.type", f"{raw['type']!r} is not a notifier type", f"use one of {kinds}"
        ) from None
    check_keys(raw, _COMMON_KEYS + _TYPE_KEYS[kind], path)
    common = _Common(
        name=name,
        route=_route(raw.get("route"), f"{path}.route"),
        send_resolved=read_bool(raw.get("send_resolved", True), f"{path}.send_resolved"),
        timeout=read_duration(raw.get("timeout", 10.0), f"{path}.timeout"),
        retry=read_retry_policy(raw.get("retry"), f"{path}.retry"),
    )
    args = {k: getattr(common, k) for k in ("name", "route", "send_resolved", "timeout", "retry")}

    def need(key: str) -> object:
        if key not in raw:
            raise config_error(f"{path}.{key}", "missing", f"required for a {kind.value} notifier")
        return raw[key]

    if kind is NotifierType.ALERTMANAGER:
        return AlertmanagerConfig(
            **args,
            url=_url(need("url"), f"{path}.url"),
            resend_interval=read_duration(raw.get("resend_interval", 60.0),
                                          f"{path}.resend_interval"),
            headers=_headers(raw.get("headers"), f"{path}.headers", base),
        )
    if kind is NotifierType.WEBHOOK:
        url = read_secret(need("url"), f"{path}.url", base=base, plain=True)
        _url(url.reveal(), f"{path}.url", secret=True)
        headers = _headers(raw.get("headers"), f"{path}.headers", base)
        return WebhookConfig(**args, url=url, headers=headers)
    if kind is NotifierType.SLACK:
        hook = read_secret(need("webhook_url"), f"{path}.webhook_url", base=base)
        _url(hook.reveal(), f"{path}.webhook_url", secret=True)
        return SlackConfig(**args, webhook_url=hook)
    if kind is NotifierType.PAGERDUTY:
        return PagerDutyConfig(
            **args,
            routing_key=read_secret(need("routing_key"), f"{path}.routing_key", base=base),
            url=_url(raw.get("url", PAGERDUTY_EVENTS_URL), f"{path}.url"),
            source=read_str(raw.get("source", "otel-ml-evaluator"), f"{path}.source"),
        )
    starttls = read_bool(raw.get("starttls", True), f"{path}.starttls")
    username = raw.get("username")
    password = raw.get("password")
    ca_file = raw.get("tls_ca_file")
    if (username is None) != (password is None):
        raise config_error(path, "username and password go together", "give both or neither")
    return EmailConfig(
        **args,
        host=read_str(need("host"), f"{path}.host"),
        port=read_int(raw.get("port", 587 if starttls else 25), f"{path}.port", minimum=1),
        from_addr=read_str(need("from"), f"{path}.from"),
        to=read_str_list(need("to"), f"{path}.to"),
        starttls=starttls,
        username=None if username is None else read_str(username, f"{path}.username"),
        password=None if password is None else read_secret(password, f"{path}.password", base=base),
        subject_prefix=str(raw.get("subject_prefix", "[otel-ml]")),
        tls_ca_file=None if ca_file is None else read_str(ca_file, f"{path}.tls_ca_file"),
    )
