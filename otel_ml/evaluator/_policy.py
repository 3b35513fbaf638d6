"""The ``drift:`` section of the evaluator configuration, turned into a ``DriftPolicy``.

The section's keys are the fields of :class:`otel_ml.stats.DriftPolicy`; an unknown
key or a value the policy refuses stops start-up with a message naming
``drift.<key>``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from otel_ml._errors import ConfigurationError, OtelMlError
from otel_ml.stats import DriftPolicy

__all__ = ["drift_policy_from_mapping"]


def drift_policy_from_mapping(d: Mapping[str, Any]) -> DriftPolicy:
    """A ``DriftPolicy`` from the ``drift:`` mapping (defaults for missing keys).

    >>> drift_policy_from_mapping({"alpha": 0.05}).alpha
    0.05
    >>> drift_policy_from_mapping({"alpah": 0.05})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: unknown key 'drift.alpah'; did you mean 'drift.alpha'? ...
    """

    names = tuple(f.name for f in dataclasses.fields(DriftPolicy))
    for k in d:
        if k not in names:
            near = difflib.get_close_matches(str(k), names, n=1)
            hint = f"; did you mean 'drift.{near[0]}'?" if near else ""
            raise ConfigurationError(
                f"unknown key 'drift.{k}'{hint} Valid keys: {', '.join(names)}"
            )
    defaults = DriftPolicy()
    for k, v in d.items():
        default = getattr(defaults, k)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigurationError(
                    f"drift.{k}: expected a number like {default!r}, got {v!r}"
                )
    try:
        return DriftPolicy(**dict(d))
    except (OtelMlError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"drift: {exc}; fix the value in the drift section") from exc
