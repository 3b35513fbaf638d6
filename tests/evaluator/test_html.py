"""The evaluator's model page: report's drift blocks, its own sections, user text escaped."""

from __future__ import annotations

import numpy as np

from otel_ml.evaluator._evaluate import Reference, evaluate
from otel_ml.evaluator._html import _hhmm, model_page
from otel_ml.evaluator._windows import WindowData, WindowKey
from otel_ml.report import drift_table, feature_cards
from otel_ml.sketch import CategoricalSketch, NumericSketch, Profile
from otel_ml.stats import DriftPolicy

EVIL_MODEL = "<script>alert('m')</script>"
EVIL_FEATURE = '<img src=x onerror="alert(1)">'
EVIL_CATEGORY = "</table><script>alert(2)</script>"
TINY = "<b>tiny</b>"  # too few rows: in the "no verdict" table


def _numeric(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


def _categorical(values: np.ndarray) -> CategoricalSketch:
    s = CategoricalSketch()
    s.update(values)
    return s


def _page() -> tuple[str, object, WindowData, Reference]:
    rng = np.random.default_rng(7)
    ref = Profile.from_data(
        {
            EVIL_FEATURE: rng.normal(0, 1, 5000),
            "city": rng.choice(["a", "b"], 5000),
            TINY: rng.normal(0, 1, 5000),
        },
        model=EVIL_MODEL,
        version="1",
    )
    window = WindowData(
        key=WindowKey(EVIL_MODEL, "1", 0.0, 60.0),
        numeric={EVIL_FEATURE: _numeric(rng.normal(1, 1, 800)), TINY: _numeric(np.ones(5))},
        categorical={"city": _categorical(rng.choice(["a", EVIL_CATEGORY], 800))},
    )
    reference = Reference(ref, "ref <v1>")
    policy = DriftPolicy(min_rows=50)
    report = evaluate(window, reference, policy, min_rows=50)
    alerts = [{"rule": "drift", "state": "firing", "value": 0.9, "summary": EVIL_FEATURE}]
    html = model_page([report], window, reference, alerts, policy)
    return html, report, window, reference


def test_model_page_draws_report_blocks_and_its_own_sections() -> None:
    html, report, window, reference = _page()
    drift = report.drift_report(DriftPolicy(min_rows=50))  # type: ignore[attr-defined]
    assert [f.feature for f in drift.features] == sorted([EVIL_FEATURE, "city"])
    # The table and cards are report's own blocks, as in `otel-ml drift --html`.
    assert drift_table(drift) in html
    assert html.count('class="card alert"') == 2  # both features drifted, one card each
    ref_sketches = {k: f.sketch for k, f in reference.profile.features.items()}
    cur = {**window.categorical, **window.numeric}
    assert feature_cards(drift, ref_sketches, cur, labels=("reference", "window")) in html
    # What got no verdict is listed with the reason; the evaluator's sections stay.
    assert "no verdict" in html and "5 rows &lt; min_rows 50" in html
    for title in ("Window", "Alerts", "Drift", "Distributions", "Performance", "Operations"):
        assert f"<h2>{title}" in html


def test_model_page_escapes_model_feature_category_and_alert_text() -> None:
    html, *_ = _page()
    assert "<script" not in html and "<img" not in html and "</table><" not in html
    assert "<b>" not in html and "&lt;b&gt;tiny&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(&#x27;m&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;/table&gt;&lt;script&gt;" in html  # the category, drawn in its chart


def test_model_page_plots_estimated_and_realised_accuracy() -> None:
    """A binary classifier with a calibrated reference: the page shows the estimate's
    table before any label, and a chart of estimated (with its band) and realised
    accuracy over the windows."""
    from dataclasses import replace

    from otel_ml.evaluator._report import PerformanceReport
    from otel_ml.stats import classification_metrics

    rng = np.random.default_rng(3)
    p = rng.beta(2, 2, 5000)
    ref = Profile.from_data({"x": rng.normal(size=p.size)}, model="m", version="1",
                            predictions=p, labels=(rng.random(p.size) < p).astype(int))
    reference, policy = Reference(ref, "ref"), DriftPolicy()
    history = []
    for i in range(3):
        scores = rng.beta(2 + i, 2, 600)
        window = WindowData(key=WindowKey("m", "1", 60.0 * i, 60.0 * (i + 1)),
                            numeric={"x": _numeric(rng.normal(size=600))},
                            predictions={"score": _numeric(scores)})
        r = evaluate(window, reference, policy)
        assert r.estimated is not None
        y = (rng.random(600) < scores).astype(int)
        m = classification_metrics(y, (scores > 0.5).astype(int))
        history.append(replace(r, performance=PerformanceReport(
            "classification", m, 600, 600, 1.0, 1.0, 2.0)) if i < 2 else r)
    history.reverse()  # newest first, as the API passes them
    html = model_page(history, window, reference, [], policy)
    assert "Performance (estimated from the scores; no labels yet)" in html
    assert "estimated and realised accuracy by window" in html
    assert "accuracy (estimated, scores)" in html and "accuracy (realised, labels)" in html


def test_model_page_charts_the_multivariate_check_by_window() -> None:
    """With a multivariate model, the card is followed by the effect size per window, the
    threshold as a line and the drifted windows shaded (the flipped window only)."""
    from otel_ml import semconv
    from otel_ml.report import Band, Marker, Series, line_chart

    def table(n: int, rho: float) -> dict[str, np.ndarray]:
        a = rng.normal(size=n)
        return {"a": a, "b": rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n),
                "c": rng.normal(size=n)}

    rng = np.random.default_rng(11)
    ref = Profile.from_data(table(20_000, 0.8), model="m", version="1")
    assert ref.multivariate is not None
    reference, policy = Reference(ref, "ref"), DriftPolicy()
    history = []
    for i, rho in enumerate((0.8, 0.8, -0.8)):
        cols = table(1_000, rho)
        window = WindowData(
            key=WindowKey("m", "1", 60.0 * i, 60.0 * (i + 1)),
            numeric={**{k: _numeric(v) for k, v in cols.items()},
                     semconv.MULTIVARIATE_ERROR_FEATURE: ref.multivariate.error_sketch(cols)},
        )
        history.append(evaluate(window, reference, policy))
    assert [h.multivariate.drifted for h in history] == [False, False, True]  # type: ignore[union-attr]
    mvs = [h.multivariate for h in history]
    chart = line_chart(
        [Series(f"effect size ({mvs[-1].effect})", [60.0, 120.0, 180.0],  # type: ignore[union-attr]
                [mv.statistic for mv in mvs])],  # type: ignore[union-attr]
        title="multivariate check by window (shaded: drifted)",
        x_format=_hhmm,
        markers=[Marker(mvs[-1].threshold, "threshold", axis="y")],  # type: ignore[union-attr]
        bands=[Band(120.0, 180.0, "drifted")],
    )
    html = model_page(list(reversed(history)), window, reference, [], policy)
    section = html[html.index("<h2>Multivariate drift"):]
    assert chart in section.split("<h2>")[1]  # in the card's section, as drawn by report
    assert html.count("<title>drifted</title>") == 1
    # One window has no chart (nothing to compare with).
    assert "multivariate check by window" not in model_page([history[-1]], window, reference,
                                                            [], policy)
