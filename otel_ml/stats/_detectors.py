"""Sequential change detectors for a stream of numbers: Page-Hinkley and ADWIN.

The evaluator feeds them the per-prediction error of a model (0/1 errors of a
classifier, absolute errors of a regressor) in prediction order, so that a
degradation is flagged as soon as the evidence is there instead of at the end of a
window. Standard library only; the parameters, their defaults and the detection
indices are those of river's ``drift.PageHinkley`` and ``drift.ADWIN`` (0.26), which
the tests check on the same streams (``tests/stats/test_change_river.py``).

Both follow river's protocol: :meth:`update` one value at a time, then read
:attr:`drift_detected`; the update after a detection starts the detector afresh.
On top of river's, each detection is described by a :class:`Change`: where it was
found, where the new regime is estimated to begin, and the mean before and after.
An optional time ``t`` given with each value travels with it, so a change point is
also reported as a time. The state is bounded (Page-Hinkley: a few numbers; ADWIN:
at most ``max_buckets + 1`` summaries per power of two of the window length) and
round-trips through :meth:`to_dict` / ``from_dict`` (JSON), so a detector survives a
restart.

Examples
--------
>>> ph = PageHinkley(threshold=5.0)
>>> stream = [0.0] * 100 + [1.0] * 100
>>> found = [i for i, x in enumerate(stream) if ph.update(x) or ph.drift_detected]
>>> found
[105]
>>> c = ph.change
>>> c.start_index, c.direction, round(c.mean_before, 3), round(c.mean_after, 3)
(100, 'up', 0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_ml.stats._adwin import ADWIN
from otel_ml.stats._change import ADWIN_NAME, PAGE_HINKLEY, Change
from otel_ml.stats._page_hinkley import PageHinkley

__all__ = ["ADWIN", "Change", "ChangeDetector", "PageHinkley", "detector_from_dict"]


ChangeDetector = PageHinkley | ADWIN
"""Either detector: both have ``update(x, t)``, ``drift_detected``, ``change``,
``n_seen``, ``params()``, ``to_dict()``."""


def detector_from_dict(d: Mapping[str, Any]) -> ChangeDetector:
    """A detector back from its :meth:`to_dict` form (either kind).

    >>> type(detector_from_dict(ADWIN().to_dict())).__name__
    'ADWIN'
    """
    if d.get("detector") == PAGE_HINKLEY:
        return PageHinkley.from_dict(d)
    if d.get("detector") == ADWIN_NAME:
        return ADWIN.from_dict(d)
    raise ValueError(f"not a change detector's state: detector={d.get('detector')!r}")
