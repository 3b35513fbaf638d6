"""The ``drift:`` section of the evaluator configuration, turned into a ``DriftPolicy``.

The section's keys are the fields of :class:`otel_ml.stats.DriftPolicy`; an unknown
key or a value the policy refuses stops start-up with a message naming
``drift.<key>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from otel_ml._config import check_keys, config_error, read_float
from otel_ml._errors import OtelMlError
from otel_ml.stats import DriftPolicy

__all__ = ["drift_policy_from_mapping"]


def drift_policy_from_mapping(d: Mapping[str, object]) -> DriftPolicy:
    """A ``DriftPolicy`` from the ``drift:`` mapping (defaults for missing keys).

    >>> drift_policy_from_mapping({"alpha": 0.05}).alpha
    0.05
    >>> drift_policy_from_mapping({"alpah": 0.05})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: drift.alpah: unknown key; did you mean 'alpha'? ...
    """
    check_keys(d, tuple(f.name for f in dataclasses.fields(DriftPolicy)), "drift")
    defaults = DriftPolicy()
    for k, v in d.items():
        default = getattr(defaults, k)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            read_float(v, f"drift.{k}")
    try:
        return DriftPolicy(**dict(d))  # type: ignore[arg-type]
    except (OtelMlError, ValueError, TypeError) as exc:
        raise config_error("drift", str(exc), "fix the value in the drift section") from exc
