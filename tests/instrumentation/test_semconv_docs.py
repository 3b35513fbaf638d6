"""docs/semantic-conventions.md documents every metric and event defined in otel_ml.semconv."""

from __future__ import annotations

from pathlib import Path

from otel_ml import semconv

DOC = Path(__file__).resolve().parents[2] / "docs" / "semantic-conventions.md"


def test_every_metric_and_event_is_documented() -> None:
    text = DOC.read_text()
    names = {
        value
        for key, value in vars(semconv).items()
        if key.startswith(("METRIC_", "EVENT_")) and isinstance(value, str)
    }
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"add to docs/semantic-conventions.md: {missing}"
