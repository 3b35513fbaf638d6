"""The library versions :class:`~otel_ml.instrumentation.sklearn.SklearnInstrumentor` instruments.

Kept apart, as in the opentelemetry-python-contrib instrumentations, so that the
dependency check can read it without importing scikit-learn. The same
requirement is the ``sklearn`` extra in ``pyproject.toml`` and one of its
``instruments-any`` requirements, which ``opentelemetry-instrument`` checks
before loading the entry points.

>>> _instruments
('scikit-learn >= 1.3',)
"""

from __future__ import annotations

from typing import Final

_instruments: Final = ("scikit-learn >= 1.3",)
