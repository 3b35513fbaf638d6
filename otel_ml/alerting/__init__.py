"""Alert rules with hysteresis over the evaluator's observations, and their delivery.

The evaluator calls :meth:`AlertEngine.observe` with the :class:`Observation`
values of each evaluated window; the engine applies the rules of the ``alerts:``
configuration section and delivers each :class:`AlertTransition` as an OTel log
event and through the ``notifiers:`` (Alertmanager, webhook, Slack, PagerDuty,
email). See ``docs/alerting.md``.
"""

from otel_ml.alerting._observation import Observation, ObservationKind

__all__ = ["Observation", "ObservationKind"]
