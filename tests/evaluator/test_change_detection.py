"""Change detection on the joined error stream, through the store and the service."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from evaluator_points import batch, outcome, prediction

from otel_ml._errors import ConfigurationError
from otel_ml.alerting import AlertEngine, ObservationKind, parse_alerting_config
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._metrics_export import DerivedMetrics
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing
from otel_ml.stats import ADWIN, PageHinkley

T0 = 1200.0  # the window [1200, 1800) holds every prediction below
N = 2000
STEP = 0.2  # seconds between predictions: 400 s in all


def _outcomes(rng: np.random.Generator, accuracy: list[float]) -> tuple[list[str], list[str]]:
    """Predicted classes and labels of N predictions with the given accuracy per row."""
    truth = rng.integers(0, 2, N)
    right = rng.random(N) < np.asarray(accuracy)
    predicted = np.where(right, truth, 1 - truth)
    return [str(v) for v in predicted], [str(v) for v in truth]


def _accuracy(change: bool) -> list[float]:
    return [0.95] * (N // 2) + [0.6 if change else 0.95] * (N // 2)


def _service(
    path: Path,
    *,
    engine: AlertEngine | None = None,
    metrics: DerivedMetrics | None = None,
    **section: object,
) -> EvaluatorService:
    cfg = parse_config({"windows": {"size": "10m", "grace": "10s"}, **section})  # type: ignore[dict-item]
    store = Store(path, Windowing(600.0, 10.0))
    svc = EvaluatorService(
        cfg,
        store=store,
        references=ReferenceSet([], check_interval=0.0),
        policy=cfg.drift,
        alerts=None if engine is None else engine.observe,
        metrics=metrics,
        clock=lambda: T0,
    )
    return svc


def _predict(svc: EvaluatorService, predicted: list[str]) -> None:
    ids = [f"p{i}" for i in range(N)]
    events = [prediction("m", [ids[i]], T0 + i * STEP, labels=[predicted[i]]) for i in range(N)]
    svc.store.write([batch(*events)], now=T0)


def _label(svc: EvaluatorService, truth: list[str], rows: range | list[int], at: float) -> None:
    rows = list(rows)
    svc.store.write([batch(outcome("m", [f"p{i}" for i in rows], [truth[i] for i in rows], at))])


def _reference_indices(errors: list[float]) -> dict[str, list[int]]:
    """Where our detectors, fed the same errors in prediction order, find changes."""
    out: dict[str, list[int]] = {}
    for det in (PageHinkley(mode="up"), ADWIN()):
        out[det.name] = []
        for i, e in enumerate(errors):
            det.update(e)
            if det.drift_detected:
                out[det.name].append(i)
    return out


def test_a_fall_in_accuracy_alerts_before_its_window_closes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    engine = AlertEngine(parse_alerting_config({}))
    svc = _service(tmp_path / "s.db", engine=engine)
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    # the window [1200, 1800) closes at 1810: nothing is evaluated yet, the change is found
    assert svc.tick(now=T0 + 460) == []
    firing = engine.firing()
    assert {(t.rule, t.metric) for t in firing} == {
        ("performance_change", "page_hinkley"),
        ("performance_change", "adwin"),
    }
    for t in firing:
        d = dict(t.details)
        assert T0 + 200 <= d["detected_at"] <= T0 + 300  # prediction times
        assert abs(d["change_start"] - (T0 + 200)) <= 10  # the fall began at prediction 1000
        assert d["mean_before"] == pytest.approx(0.05, abs=0.02)
        assert d["mean_after"] > 0.25
        assert (t.window_start, t.window_end) == (T0, T0 + 600)
    # the same detections as the detectors fed the same errors in prediction order
    errors = [float(p != y) for p, y in zip(predicted, truth, strict=True)]
    found = svc.store.changes.recent("m")
    got = {
        d: sorted(f.change.index for f in found if f.change.detector == d)
        for d in ("page_hinkley", "adwin")
    }
    assert got == _reference_indices(errors)
    # the window's report, once closed, carries the changes (the API JSON and the page)
    (report,) = svc.tick(now=T0 + 611)
    section = report.to_dict()["change_detection"]
    assert section["detectors"] == ["page_hinkley", "adwin"]
    assert {c["detector"] for c in section["changes"]} == {"page_hinkley", "adwin"}
    obs = [o for o in report.observations() if o.kind is ObservationKind.PERFORMANCE_CHANGE]
    assert {(o.metric, o.verdict) for o in obs} == {("page_hinkley", True), ("adwin", True)}
    engine.close()


def test_a_stable_stream_raises_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(False))
    engine = AlertEngine(parse_alerting_config({}))
    svc = _service(tmp_path / "s.db", engine=engine)
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    svc.tick(now=T0 + 460)
    (report,) = svc.tick(now=T0 + 611)
    assert engine.firing() == []
    assert report.to_dict()["change_detection"] == {
        "detectors": ["page_hinkley", "adwin"],
        "changes": [],
    }
    obs = [o for o in report.observations() if o.kind is ObservationKind.PERFORMANCE_CHANGE]
    assert {(o.metric, o.verdict, o.n_rows) for o in obs} == {
        ("page_hinkley", False, N),
        ("adwin", False, N),
    }
    assert svc.store.changes.queued() == 0  # every error was fed
    engine.close()


def test_labels_out_of_order_within_a_tick_are_fed_in_prediction_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db")
    _predict(svc, predicted)
    order = list(range(N))
    rng.shuffle(order)
    for chunk in range(0, N, 250):  # eight label events, each in random order, one tick
        _label(svc, truth, order[chunk : chunk + 250], at=T0 + 450)
    svc.tick(now=T0 + 460)
    errors = [float(p != y) for p, y in zip(predicted, truth, strict=True)]
    got = {
        d: sorted(f.change.index for f in svc.store.changes.recent("m") if f.change.detector == d)
        for d in ("page_hinkley", "adwin")
    }
    assert got == _reference_indices(errors)


def test_detector_state_survives_a_restart(tmp_path: Path) -> None:
    """Half the labels, a tick, the evaluator stops; a new one on the same state gets the
    other half: the same changes as one evaluator that saw everything."""
    rng = np.random.default_rng(5)
    predicted, truth = _outcomes(rng, _accuracy(True))
    whole = _service(tmp_path / "whole.db")
    _predict(whole, predicted)
    _label(whole, truth, range(N), at=T0 + 450)
    whole.tick(now=T0 + 460)
    expected = [f.to_dict() for f in whole.store.changes.recent("m")]
    assert expected

    first = _service(tmp_path / "split.db")
    _predict(first, predicted)
    _label(first, truth, range(1100), at=T0 + 300)
    first.tick(now=T0 + 310)
    first.store.close()
    second = _service(tmp_path / "split.db")
    _label(second, truth, range(1100, N), at=T0 + 450)
    second.tick(now=T0 + 460)
    assert [f.to_dict() for f in second.store.changes.recent("m")] == expected
    state = second.store.changes.state("m", "1")
    assert state is not None and state["fed"] == N


def test_regression_errors_are_scaled_by_their_first_mean(tmp_path: Path) -> None:
    """Absolute errors in the thousands: no false alarm while stable (unscaled, the default
    Page-Hinkley threshold of 50 would fire at once), a change when they double."""
    rng = np.random.default_rng(3)
    for change in (False, True):
        svc = _service(tmp_path / f"r{change}.db")
        y = rng.normal(50_000, 10_000, N)
        noise = rng.normal(0, 2_000, N) * np.where(
            np.arange(N) < N // 2, 1.0, 2.0 if change else 1.0
        )
        events = [
            prediction("r", [f"q{i}"], T0 + i * STEP, scores=[y[i] + noise[i]]) for i in range(N)
        ]
        svc.store.write([batch(*events)], now=T0)
        svc.store.write(
            [batch(outcome("r", [f"q{i}" for i in range(N)], [float(v) for v in y], T0 + 450))]
        )
        svc.tick(now=T0 + 460)
        found = svc.store.changes.recent("r")
        if not change:
            assert found == []
        else:
            assert {f.change.detector for f in found if f.change.rising} == {
                "page_hinkley",
                "adwin",
            }
            f = found[-1]
            assert f.task == "regression" and 10_000 < f.scale < 25_000  # 10 x the mean error
            assert f.change.mean_before == pytest.approx(1600, rel=0.2)  # in the units of y


def test_switched_off_nothing_is_queued_or_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db", change_detection={"enabled": False})
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    svc.tick(now=T0 + 460)
    (report,) = svc.tick(now=T0 + 611)
    assert svc.store.changes.queued() == 0 and svc.store.changes.recent("m") == []
    assert report.to_dict()["change_detection"] is None
    assert not [o for o in report.observations() if o.kind is ObservationKind.PERFORMANCE_CHANGE]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"detectors": {"adwin": {"delta": 2}}}, "change_detection.detectors.adwin.delta: got 2"),
        ({"detectors": {"cusum": {}}}, "change_detection.detectors.cusum: unknown key"),
        (
            {"detectors": {"page_hinkley": {"treshold": 1}}},
            "change_detection.detectors.page_hinkley.treshold: unknown key; "
            "did you mean 'threshold'",
        ),
        ({"detectors": {}}, "change_detection.detectors: is empty"),
        ({"warmup": 0}, "change_detection.warmup"),
        (
            {"detectors": {"page_hinkley": {"threshold": True}}},
            "change_detection.detectors.page_hinkley.threshold: got True",
        ),
        (
            {"detectors": {"page_hinkley": {"min_instances": False}}},
            "change_detection.detectors.page_hinkley.min_instances: got False",
        ),
        ({"detectors": {"adwin": {"delta": True}}}, "change_detection.detectors.adwin.delta"),
    ],
)
def test_config_errors_name_the_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_config({"change_detection": section})
    assert str(err.value).startswith(message), str(err.value)


def test_report_json_round_trips_with_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db")
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    (report,) = svc.tick(now=T0 + 611)
    from otel_ml.evaluator._report import ModelReport

    again = ModelReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report and again.changes


def test_api_report_and_page_show_the_change(tmp_path: Path) -> None:
    """The report JSON lists the changes found (also before their window is evaluated)
    and the model page marks the estimated start of the rise on the performance chart."""
    from otel_ml.evaluator._api import ApiServer

    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db")
    # an earlier window with labels, so the page draws the performance chart
    early = [prediction("m", [f"e{i}"], T0 - 300 + i, labels=[truth[i]]) for i in range(100)]
    svc.store.write([batch(*early)], now=T0)
    svc.store.write([batch(outcome("m", [f"e{i}" for i in range(100)], truth[:100], T0))])
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    svc.tick(now=T0 + 460)  # [600, 1200) evaluated; the change found in the open window
    api = ApiServer(svc, port=0)
    try:
        body = api.report("m")
        assert body is not None
        recent = body["recent_changes"]
        assert {c["detector"] for c in recent} == {"page_hinkley", "adwin"}
        assert all(
            T0 + 190 <= c["start_time"] <= T0 + 210 for c in recent if c["direction"] == "up"
        )
        svc.tick(now=T0 + 611)
        page = api.html("m")
        assert page is not None
        assert page.count("change (page_hinkley)") == 1 and page.count("change (adwin)") == 1
        assert "Changes of the per-prediction error" in page
    finally:
        api.stop()


def test_metrics_count_the_changes_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    metrics = DerivedMetrics()
    svc = _service(tmp_path / "s.db", metrics=metrics)
    try:
        assert "ml_performance_changes" not in metrics.prometheus_text().decode()
        _predict(svc, predicted)
        _label(svc, truth, range(N), at=T0 + 450)
        svc.tick(now=T0 + 460)  # before the window closes
        lines = [
            line
            for line in metrics.prometheus_text().decode().splitlines()
            if line.startswith("ml_performance_changes_total{")
        ]
        ups = {
            d: sum(1 for f in svc.store.changes.recent("m") if f.change.detector == d)
            for d in ("page_hinkley", "adwin")
        }
        for detector, n in ups.items():
            (line,) = [x for x in lines if f'ml_change_detector="{detector}"' in x]
            assert 'ml_change_direction="up"' in line and 'ml_model_name="m"' in line
            assert line.endswith(f" {float(n)}")
    finally:
        metrics.shutdown()


def test_a_failing_batch_is_dropped_and_counted_and_windows_still_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the feed (forced here) must not block the detectors or the windows."""
    from otel_ml.evaluator import _change_detection

    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db", change_detection={"batch": 500})
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    real, calls = _change_detection._error, []

    def failing_once(row):  # type: ignore[no-untyped-def]
        calls.append(row.seq)
        if len(calls) == 1:
            raise RuntimeError("forced")
        return real(row)

    monkeypatch.setattr(_change_detection, "_error", failing_once)
    (report,) = svc.tick(now=T0 + 611)
    assert report.performance is not None and report.performance.n_labelled == N
    assert svc.internal_errors == 1
    assert svc.error_streams is not None and svc.error_streams.failed == 500
    assert svc.store.changes.queued() == 0
    state = svc.store.changes.state("m", "1")
    assert state is not None and state["fed"] == N - 500


def test_housekeeping_forgets_changes_and_detectors_with_their_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    svc = _service(tmp_path / "s.db")
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    svc.tick(now=T0 + 611)
    changes = svc.store.changes
    assert changes.recent("m") and changes.state("m", "1") and changes.counts()
    svc.housekeep(now=T0 + 6 * 86400)  # within the 7 days of retention: kept
    assert changes.recent("m") and changes.state("m", "1") and changes.counts()
    svc.housekeep(now=T0 + 8 * 86400)
    assert changes.recent("m") == [] and changes.state("m", "1") is None
    assert changes.counts() == []


def test_a_store_failure_mid_commit_leaves_queue_and_state_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly once: the queue rows a batch consumed are deleted in the transaction that
    saves the detectors' state and the changes. A store failure inside that transaction
    (forced while the changes are written, after the delete and the state) rolls all of
    it back: the rows stay queued, the state is the one before, and the next run feeds
    them once, finding what a run without the failure finds."""
    import sqlite3

    from otel_ml.evaluator._report import FoundChange

    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    clean = _service(tmp_path / "clean.db", change_detection={"batch": 500})
    _predict(clean, predicted)
    _label(clean, truth, range(N), at=T0 + 450)
    clean.tick(now=T0 + 460)
    expected = [f.to_dict() for f in clean.store.changes.recent("m")]
    assert expected

    svc = _service(tmp_path / "s.db", change_detection={"batch": 500})
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    streams = svc.error_streams
    assert streams is not None
    real = FoundChange.to_dict

    def disk_full(self: FoundChange) -> dict[str, object]:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(FoundChange, "to_dict", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        streams.run()
    # the batches before the failing one committed; the failing one left no trace
    state = svc.store.changes.state("m", "1")
    fed = 0 if state is None else state["fed"]
    assert fed % 500 == 0 and fed < N
    assert svc.store.changes.queued() == N - fed
    assert svc.store.changes.recent("m") == []

    monkeypatch.setattr(FoundChange, "to_dict", real)
    streams.run()
    assert svc.store.changes.queued() == 0
    state = svc.store.changes.state("m", "1")
    assert state is not None and state["fed"] == N
    assert [f.to_dict() for f in svc.store.changes.recent("m")] == expected


def test_the_alert_fires_on_the_rise_and_resolves_after_two_labelled_windows(
    tmp_path: Path,
) -> None:
    """performance_change fires in the window where the rise is found (before it closes),
    stays firing through a window without labels (nothing to judge), and resolves after
    two windows whose predictions have labels and no rise."""
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    engine = AlertEngine(parse_alerting_config({}))
    svc = _service(tmp_path / "s.db", engine=engine)
    _predict(svc, predicted)
    _label(svc, truth, range(N), at=T0 + 450)
    svc.tick(now=T0 + 460)
    assert {t.metric for t in engine.firing() if t.rule == "performance_change"} == {
        "page_hinkley",
        "adwin",
    }

    def window(k: int, *, labelled: bool, accuracy: float = 0.6) -> None:
        """Window k after the first: 300 predictions at a steady (already low) accuracy."""
        start = T0 + 600 * k
        pre = [str(v) for v in rng.integers(0, 2, 300)]
        right = rng.random(300) < accuracy
        lab = [p if r else str(1 - int(p)) for p, r in zip(pre, right, strict=True)]
        ids = [f"w{k}-{i}" for i in range(300)]
        events = [prediction("m", [ids[i]], start + i, labels=[pre[i]]) for i in range(300)]
        svc.store.write([batch(*events)], now=start)
        if labelled:
            svc.store.write([batch(outcome("m", ids, lab, start + 400))])

    def firing() -> set[str | None]:
        return {t.metric for t in engine.firing() if t.rule == "performance_change"}

    svc.tick(now=T0 + 611)  # the first window closes: its report carries the rise
    window(1, labelled=False)
    svc.tick(now=T0 + 1211)  # a window without labels judges nothing
    assert firing() == {"page_hinkley", "adwin"}
    window(2, labelled=True)
    svc.tick(now=T0 + 1811)  # one clear window: not yet
    assert firing() == {"page_hinkley", "adwin"}
    window(3, labelled=True)
    svc.tick(now=T0 + 2411)  # the second: resolved
    assert firing() == set()
    engine.close()


def test_config_sections_keep_the_evaluator_defaults() -> None:
    """A detectors section that names Page-Hinkley's threshold only keeps mode up (an
    alert on a fall of the error would be a false alarm) and river's other defaults;
    warmup and batch are read; absent, both detectors run with their defaults."""
    from otel_ml.evaluator._change_detection import parse_change_options

    default = parse_change_options(None)
    assert default.names == ("page_hinkley", "adwin") and default.warmup == 100
    assert default.make()["page_hinkley"].params()["mode"] == "up"
    opts = parse_change_options(
        {"detectors": {"page_hinkley": {"threshold": 20}}, "warmup": 30, "batch": 7}
    )
    assert opts.names == ("page_hinkley",) and (opts.warmup, opts.batch) == (30, 7)
    ph = opts.make()["page_hinkley"].params()
    assert ph["mode"] == "up" and ph["threshold"] == 20
    assert ph["delta"] == PageHinkley().delta and ph["alpha"] == PageHinkley().alpha
    assert parse_change_options({"enabled": False}).names == ()


def test_the_alert_rule_can_be_switched_off_or_made_stricter(tmp_path: Path) -> None:
    """alerts: performance_change: {enabled: false} leaves the change in the report and
    on the counter but sends no alert; for_windows: 2 waits for a second window."""
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))
    for rule, fires in (({"enabled": False}, False), ({"for_windows": 2}, False), ({}, True)):
        alerts = {"alerts": {"rules": {"performance_change": rule}}}
        engine = AlertEngine(parse_alerting_config(alerts))
        svc = _service(tmp_path / f"{len(rule)}{fires}.db", engine=engine)
        _predict(svc, predicted)
        _label(svc, truth, range(N), at=T0 + 450)
        svc.tick(now=T0 + 460)
        assert svc.store.changes.recent("m")
        assert bool([t for t in engine.firing() if t.rule == "performance_change"]) is fires
        engine.close()


def test_one_wild_regression_label_neither_alerts_nor_blunts_the_detectors(
    tmp_path: Path,
) -> None:
    """A label 1,000 times off (a sentinel, a unit slip) among steady errors: no change
    (uncapped, both detectors fired on that one prediction); one among the first 100
    does not set the scale ten times too large, so a tripling of the errors is still
    found by both."""
    rng = np.random.default_rng(3)
    for change in (False, True):
        svc = _service(tmp_path / f"w{change}.db")
        y = rng.normal(50_000, 10_000, N)
        noise = rng.normal(0, 2_000, N) * np.where(
            np.arange(N) < N // 2, 1.0, 3.0 if change else 1.0
        )
        scores = y + noise
        scores[40] = y[40] + 1.6e6  # in the warm-up
        if not change:
            scores[N // 2] = y[N // 2] + 1.6e6
        events = [prediction("w", [f"q{i}"], T0 + i * STEP, scores=[scores[i]]) for i in range(N)]
        svc.store.write([batch(*events)], now=T0)
        svc.store.write(
            [batch(outcome("w", [f"q{i}" for i in range(N)], [float(v) for v in y], T0 + 450))]
        )
        svc.tick(now=T0 + 460)
        found = svc.store.changes.recent("w")
        state = svc.store.changes.state("w", "1")
        assert state is not None and 10_000 < state["scale"] < 25_000  # 10 x the mean error
        if not change:
            assert found == []
        else:
            assert {f.change.detector for f in found if f.change.rising} == {
                "page_hinkley",
                "adwin",
            }


def test_detectors_read_back_from_the_store_find_the_same_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds the detectors of a few model versions only (MAX_CACHED_STREAMS; about
    140 kB each); the others are read back from the store. Three versions' labels
    interleaved in small batches through a cache of two: the same changes as with all
    three in memory, and never more than two held."""
    from otel_ml.evaluator import _change_detection

    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(True))

    def run(path: Path) -> tuple[list[dict[str, object]], int]:
        svc = _service(path, change_detection={"batch": 150})
        versions = ("1", "2", "3")
        events = [
            prediction("m", [f"{v}-{i}"], T0 + i * STEP, version=v, labels=[predicted[i]])
            for i in range(N)
            for v in versions
        ]
        svc.store.write([batch(*events)], now=T0)
        held = 0
        assert svc.error_streams is not None
        for chunk in range(0, N, 100):  # one label event per version and chunk
            for v in versions:
                rows = range(chunk, chunk + 100)
                ids = [f"{v}-{i}" for i in rows]
                svc.store.write([batch(outcome("m", ids, [truth[i] for i in rows], T0 + 450))])
            svc.error_streams.run()
            held = max(held, len(svc.error_streams._streams))
        return [f.to_dict() for f in svc.store.changes.recent("m")], held

    everything, held = run(tmp_path / "all.db")
    assert held == 3 and everything
    monkeypatch.setattr(_change_detection, "MAX_CACHED_STREAMS", 2)
    assert run(tmp_path / "two.db") == (everything, 2)


def test_labels_joined_while_the_detectors_run_wait_for_the_next_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run feeds what was queued when it started: labels joined meanwhile (here: a new
    one joined at every batch the run takes, as a flood from the receivers would) wait
    for the next run, so the tick goes on to the windows instead of chasing the queue."""
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, _accuracy(False))
    svc = _service(tmp_path / "s.db", change_detection={"batch": 100})
    _predict(svc, predicted)
    _label(svc, truth, range(1000), at=T0 + 450)
    table = svc.store.changes
    real_take, late = table.take, iter(range(1000, N))

    def take_while_labels_come(limit: int, through: int | None = None, **kw: float) -> list[object]:
        i = next(late, None)
        if i is not None:
            _label(svc, truth, [i], at=T0 + 450)
        return real_take(limit, through, **kw)  # type: ignore[return-value]

    monkeypatch.setattr(table, "take", take_while_labels_come)
    assert svc.error_streams is not None
    svc.error_streams.run()
    state = table.state("m", "1")
    assert state is not None and state["fed"] == 1000
    assert 0 < table.queued() < N - 1000  # joined during the run: fed next time
    monkeypatch.undo()
    svc.error_streams.run()
    assert table.queued() == 0


def test_hold_feeds_errors_whose_labels_come_late_in_prediction_order(tmp_path: Path) -> None:
    """A steady model whose wrong answers are labelled 100 s after the right ones (as
    chargebacks come after good payments): fed as joined, the errors come in clumps and
    the detectors see rises that are artefacts of the label feed; with hold: 120s each
    error waits until its prediction is two minutes old and the stream is exactly the
    prediction-ordered one (the detectors find what they find on it, here nothing)."""
    rng = np.random.default_rng(7)
    predicted, truth = _outcomes(rng, [0.9] * N)
    errors = [float(p != y) for p, y in zip(predicted, truth, strict=True)]
    expected = _reference_indices(errors)
    assert expected == {"page_hinkley": [], "adwin": []}
    got = {}
    for hold in ("0s", "120s"):
        svc = _service(tmp_path / f"{hold}.db", change_detection={"hold": hold})
        _predict(svc, predicted)
        labelled: set[int] = set()
        for tick in np.arange(T0 + 10, T0 + 700, 10.0):
            due = [
                i
                for i in range(N)
                if i not in labelled and T0 + i * STEP <= tick - (100 if errors[i] else 1)
            ]
            if due:
                _label(svc, truth, due, at=float(tick))
                labelled.update(due)
            assert svc.error_streams is not None
            svc.error_streams.run(float(tick))
        assert svc.error_streams is not None
        svc.error_streams.run(T0 + 10_000)
        assert svc.store.changes.queued() == 0
        found = svc.store.changes.recent("m")
        got[hold] = {
            d: sorted(f.change.index for f in found if f.change.detector == d)
            for d in ("page_hinkley", "adwin")
        }
    assert got["120s"] == expected
    assert got["0s"]["adwin"]  # the artefact hold removes


def test_hold_config() -> None:
    from otel_ml.evaluator._change_detection import parse_change_options

    assert parse_change_options({"hold": "30d"}).hold == 30 * 86400
    assert parse_change_options({}).hold == 0.0
    with pytest.raises(ConfigurationError, match=r"^change_detection\.hold: 'soon'"):
        parse_change_options({"hold": "soon"})
