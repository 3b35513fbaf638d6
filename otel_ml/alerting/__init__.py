"""Alert rules with hysteresis over the evaluator's observations, and their delivery.

The evaluator calls :meth:`AlertEngine.observe` with the :class:`Observation`
values of each evaluated window; the engine applies the rules of the ``alerts:``
configuration section (:func:`parse_alerting_config`) and delivers each
:class:`AlertTransition` as an OTel log event (``ml.alert``) and through the
``notifiers:`` (Alertmanager, webhook, Slack, PagerDuty, email), asynchronously,
with retries and a persisted outbox. See ``docs/alerting.md``.

Usage
-----
::

    config = parse_alerting_config(yaml.safe_load(text))     # alerts: + notifiers:
    engine = AlertEngine(config, state_dir="state/alerts",
                         logger_provider=otlp_logger_provider("http://collector:4318"))
    engine.start()                                           # delivery workers
    transitions = engine.observe(observations, now=time.time())
    ...
    engine.close()
"""

from otel_ml._config import Secret
from otel_ml.alerting._config import AlertingConfig, parse_alerting_config
from otel_ml.alerting._engine import AlertEngine
from otel_ml.alerting._log_export import otlp_logger_provider
from otel_ml.alerting._notifier_config import (
    AlertmanagerConfig,
    EmailConfig,
    NotifierConfig,
    NotifierType,
    PagerDutyConfig,
    RetryPolicy,
    Route,
    SlackConfig,
    WebhookConfig,
    read_retry_policy,
)
from otel_ml.alerting._observation import Observation, ObservationKind
from otel_ml.alerting._rules import BUILTIN_RULES, AlertKey, Comparison, RuleConfig
from otel_ml.alerting._senders import DeliveryError
from otel_ml.alerting._severity import Severity
from otel_ml.alerting._transition import AlertState, AlertTransition

__all__ = [
    "BUILTIN_RULES",
    "AlertEngine",
    "AlertKey",
    "AlertState",
    "AlertTransition",
    "AlertingConfig",
    "AlertmanagerConfig",
    "Comparison",
    "DeliveryError",
    "EmailConfig",
    "NotifierConfig",
    "NotifierType",
    "Observation",
    "ObservationKind",
    "PagerDutyConfig",
    "RetryPolicy",
    "Route",
    "RuleConfig",
    "Secret",
    "Severity",
    "SlackConfig",
    "WebhookConfig",
    "otlp_logger_provider",
    "parse_alerting_config",
    "read_retry_policy",
]
