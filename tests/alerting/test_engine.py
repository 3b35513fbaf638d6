"""AlertEngine rules and hysteresis: fire after N windows, resolve after M clear
windows, no storm on a flapping signal, repeats, identity, persistence, log events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alerting_support import T0, WINDOW, Otel, drift_obs, window_end
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry._logs import SeverityNumber

from otel_ml import semconv
from otel_ml.alerting import (
    AlertEngine,
    AlertState,
    Observation,
    ObservationKind,
    parse_alerting_config,
)


def engine_for(alerts: dict[str, Any] | None = None, **kwargs: Any) -> AlertEngine:
    return AlertEngine(parse_alerting_config({"alerts": alerts or {}}), **kwargs)


def run(engine: AlertEngine, values: list[float], **kw: Any) -> list[str]:
    """Feed one drift observation per window; return the transitions per window."""
    out = []
    for i, v in enumerate(values):
        ts = engine.observe([drift_obs(i, v, **kw)], now=window_end(i) + 1)
        out.append(",".join(t.state.value + ("*" if t.repeat else "") for t in ts) or "-")
    return out


# one breaching and one clear value per built-in rule: (kind, metric, feature, bad, good)
_CASES = [
    ("accuracy_low", "performance", "accuracy", None, 0.80, 0.90),
    ("precision_low", "performance", "precision", None, 0.70, 0.85),
    ("recall_low", "performance", "recall", None, 0.70, 0.80),
    ("f1_low", "performance", "f1", None, 0.70, 0.85),
    ("feature_drift", "feature_drift", "psi", "age", 0.35, 0.05),
    ("prediction_drift", "prediction_drift", "psi", None, 0.35, 0.05),
    ("data_quality", "data_quality", "missing", "age", 0.20, 0.01),
    ("latency_p95_high", "latency_p95", None, None, 0.250, 0.040),
    ("error_rate_high", "error_rate", None, None, 0.10, 0.01),
    ("label_coverage_low", "label_coverage", None, None, 0.10, 0.90),
]


@pytest.mark.parametrize(("rule", "kind", "metric", "feature", "bad", "good"), _CASES)
def test_each_builtin_rule_fires_and_resolves(
    rule: str, kind: str, metric: str | None, feature: str | None, bad: float, good: float
) -> None:
    engine = engine_for({"defaults": {"for_windows": 1, "resolve_after_windows": 1},
                         "rules": {"label_coverage_low": {"enabled": True}}})

    def obs(i: int, value: float) -> Observation:
        return Observation("m", "1", kind, value, T0 + 60 * i, T0 + 60 * (i + 1), 500,
                           metric=metric, feature=feature)

    assert engine.observe([obs(0, good)], now=T0 + 61) == []
    fired = engine.observe([obs(1, bad)], now=T0 + 121)
    assert [(t.rule, t.state, t.value) for t in fired] == [(rule, AlertState.FIRING, bad)]
    assert fired[0].feature == feature
    resolved = engine.observe([obs(2, good)], now=T0 + 181)
    assert [(t.rule, t.state) for t in resolved] == [(rule, AlertState.RESOLVED)]
    assert resolved[0].alert_id == fired[0].alert_id
    engine.close()


def test_fires_after_n_windows_and_resolves_after_m_clear_windows() -> None:
    engine = engine_for({"defaults": {"for_windows": 3, "resolve_after_windows": 2}})
    got = run(engine, [0.3, 0.3, 0.3, 0.3, 0.1, 0.3, 0.1, 0.1, 0.1])
    assert got == ["-", "-", "firing", "-", "-", "-", "-", "resolved", "-"]


def test_flapping_signal_does_not_storm() -> None:
    engine = engine_for({"defaults": {"for_windows": 2, "resolve_after_windows": 2}})
    flapping = [0.3, 0.1] * 20  # never two breaching windows in a row
    assert set(run(engine, flapping)) == {"-"}
    engine.close()
    engine = engine_for({"defaults": {"for_windows": 2, "resolve_after_windows": 2}})
    # fires once, then flaps: stays firing (one alert), resolves once when it calms down
    got = run(engine, [0.3, 0.3] + [0.1, 0.3] * 20 + [0.1, 0.1])
    assert [g for g in got if g != "-"] == ["firing", "resolved"]


def test_duration_condition() -> None:
    engine = engine_for({"defaults": {"for_windows": 1, "for": "3m"}})
    got = run(engine, [0.3, 0.3, 0.3, 0.3])
    assert got == ["-", "-", "firing", "-"]  # window 2 ends 3 minutes after window 0 starts


def test_repeat_interval_reminds_while_firing() -> None:
    engine = engine_for({"defaults": {"for_windows": 1, "repeat_interval": "3m"}})
    got = run(engine, [0.3] * 8)
    assert got == ["firing", "-", "-", "firing*", "-", "-", "firing*", "-"]


def test_a_re_evaluated_window_replaces_its_verdict() -> None:
    """Late labels make an old window's accuracy more exact: the update counts, not twice."""
    engine = engine_for({"defaults": {"for_windows": 2, "resolve_after_windows": 2}})

    def acc(i: int, value: float) -> list[Observation]:
        return [Observation("m", "1", "performance", value, T0 + 60 * i, T0 + 60 * (i + 1), 500,
                            metric="accuracy")]

    assert engine.observe(acc(0, 0.80), now=T0 + 61) == []       # breach
    assert engine.observe(acc(1, 0.90), now=T0 + 121) == []      # clear: run broken
    (fired,) = engine.observe(acc(1, 0.81), now=T0 + 400)        # window 1 again, more labels
    assert (fired.state, fired.window_end, fired.starts_at) == (AlertState.FIRING, T0 + 120, T0)
    assert engine.observe(acc(1, 0.81), now=T0 + 401) == []      # the same again: nothing
    assert engine.observe(acc(2, 0.95), now=T0 + 181) == []
    assert engine.observe(acc(3, 0.95), now=T0 + 241)[0].state is AlertState.RESOLVED
    # an update of a window older than the kept history is too late to matter
    for i in range(4, 20):
        engine.observe(acc(i, 0.95), now=T0 + 60 * (i + 1))
    assert engine.observe(acc(0, 0.5), now=T0 + 2000) == []
    assert engine.observe(acc(1, 0.5), now=T0 + 2000) == []
    engine.close()


def test_a_window_counts_once() -> None:
    engine = engine_for({"defaults": {"for_windows": 2}})
    for _ in range(3):  # the same window re-evaluated (e.g. after an evaluator restart)
        assert engine.observe([drift_obs(0, 0.5)], now=window_end(0)) == []
    assert engine.observe([drift_obs(0, 0.5), drift_obs(1, 0.5)], now=window_end(1))[0].state \
        is AlertState.FIRING


def test_identity_per_model_rule_feature_and_stable_across_versions() -> None:
    engine = engine_for({"defaults": {"for_windows": 1}})
    ts = engine.observe(
        [drift_obs(0, 0.5, feature="age"), drift_obs(0, 0.5, feature="income"),
         drift_obs(0, 0.5, model="fraud", feature="age")],
        now=window_end(0),
    )
    assert len({t.alert_id for t in ts}) == 3
    # a new version of the model: same alert, no new firing
    newer = Observation("churn", "4", "feature_drift", 0.6, T0 + 60, T0 + 120, 900,
                        metric="psi", feature="age")
    assert engine.observe([newer], now=T0 + 121) == []
    assert {(t.model, t.feature) for t in engine.firing()} == {
        ("churn", "age"), ("churn", "income"), ("fraud", "age")}


def test_two_observations_of_one_window_breach_if_either_does() -> None:
    engine = engine_for({"defaults": {"for_windows": 1}})
    clean = Observation("churn", "3", "feature_drift", 0.01, T0, T0 + 60, 500, metric="psi",
                        feature="age")
    (t,) = engine.observe([clean, drift_obs(0, 0.4), drift_obs(0, 0.3)], now=T0 + 61)
    assert t.value == 0.4  # the worst of the window is reported


def test_verdict_rule_and_statistic_from_details() -> None:
    engine = engine_for({
        "builtin_rules": False,
        "defaults": {"for_windows": 1},
        "rules": {
            "policy": {"kind": "feature_drift", "threshold": "verdict"},
            "ks_high": {"kind": "feature_drift", "metric": "ks", "threshold": 0.15},
        },
    })
    obs = Observation("m", "1", "feature_drift", 0.05, T0, T0 + 60, 500, metric="psi",
                      feature="x", verdict=True, details={"ks": 0.2})
    assert sorted((t.rule, t.value) for t in engine.observe([obs], now=T0 + 61)) == [
        ("ks_high", 0.2), ("policy", 0.05)]


def test_min_rows_ignores_small_windows() -> None:
    engine = engine_for({"defaults": {"for_windows": 1, "min_rows": 100}})
    small = Observation("m", "1", "error_rate", 0.5, T0, T0 + 60, 10)
    assert engine.observe([small], now=T0 + 61) == []


def test_state_survives_a_restart(tmp_path: Path) -> None:
    cfg = {"defaults": {"for_windows": 2, "resolve_after_windows": 2}}
    engine = engine_for(cfg, state_dir=tmp_path)
    assert run(engine, [0.3, 0.3]) == ["-", "firing"]
    engine.close()
    engine = engine_for(cfg, state_dir=tmp_path)
    assert [t.rule for t in engine.firing()] == ["feature_drift"]
    got = [engine.observe([drift_obs(i, 0.05)], now=window_end(i)) for i in (2, 3)]
    assert [len(g) for g in got] == [0, 1] and got[1][0].state is AlertState.RESOLVED
    engine.close()


@settings(max_examples=150, deadline=None)
@given(
    breaches=st.lists(st.booleans(), max_size=60),
    n=st.integers(1, 4),
    m=st.integers(1, 4),
)
def test_transitions_follow_the_hysteresis(breaches: list[bool], n: int, m: int) -> None:
    """Firing and resolved alternate (starting with firing); a firing follows at least
    n breaching windows in a row, a resolution at least m clear windows in a row."""
    engine = engine_for({"defaults": {"for_windows": n, "resolve_after_windows": m,
                                      "repeat_interval": "never"}})
    states: list[tuple[int, str]] = []
    for i, b in enumerate(breaches):
        for t in engine.observe([drift_obs(i, 0.5 if b else 0.0)], now=window_end(i)):
            states.append((i, t.state.value))
    engine.close()
    kinds = [s for _, s in states]
    assert kinds == ["firing", "resolved"] * (len(kinds) // 2) + ["firing"] * (len(kinds) % 2)
    for i, state in states:
        run_of = breaches[i - (n if state == "firing" else m) + 1: i + 1]
        want = state == "firing"
        assert len(run_of) == (n if want else m) and all(b == want for b in run_of)


def test_log_event_per_transition(otel: Otel) -> None:
    engine = engine_for({"defaults": {"for_windows": 1, "resolve_after_windows": 1},
                         "jaeger_url": "http://jaeger:16686"},
                        logger_provider=otel.logger_provider, meter_provider=otel.meter_provider)
    engine.observe([drift_obs(0, 0.4)], now=window_end(0))
    engine.observe([Observation("churn", "3", "performance", 0.5, T0, T0 + WINDOW,
                                200, metric="accuracy")], now=window_end(0))
    engine.observe([drift_obs(1, 0.01)], now=window_end(1))
    events = otel.alert_events()
    assert len(events) == 3
    drift_fire, acc_fire, drift_resolve = events
    attrs = dict(drift_fire.attributes)
    assert drift_fire.event_name == semconv.EVENT_ALERT
    assert drift_fire.severity_number is SeverityNumber.WARN
    assert acc_fire.severity_number is SeverityNumber.ERROR  # critical
    assert attrs[semconv.ML_ALERT_RULE] == "feature_drift"
    assert attrs[semconv.ML_ALERT_STATE] == "firing"
    assert attrs[semconv.ML_ALERT_VALUE] == 0.4
    assert attrs[semconv.ML_ALERT_THRESHOLD] == 0.2
    assert attrs[semconv.ML_FEATURE_NAME] == "age"
    assert attrs[semconv.ML_MODEL_NAME] == "churn"
    assert attrs[semconv.ML_ALERT_REFERENCE] == "churn@3 (train.json)"
    assert attrs[semconv.ML_ALERT_WINDOW_START].endswith("Z")
    assert list(attrs[semconv.ML_ALERT_TRACE_IDS]) == [f"{1:032x}"]
    assert list(attrs[semconv.ML_ALERT_LINKS]) == [f"http://jaeger:16686/trace/{1:032x}"]
    assert drift_fire.trace_id == 1 and drift_fire.span_id == 1  # the example trace's context
    assert "psi" in str(drift_fire.body) and "reference: churn@3" in str(drift_fire.body)
    assert dict(drift_resolve.attributes)[semconv.ML_ALERT_STATE] == "resolved"
    assert dict(drift_resolve.attributes)[semconv.ML_ALERT_ID] == attrs[semconv.ML_ALERT_ID]
    assert acc_fire.trace_id in (0, None)  # no example trace: no trace context
    engine.close()


def test_firing_gauge(otel: Otel) -> None:
    engine = engine_for({"defaults": {"for_windows": 1}}, meter_provider=otel.meter_provider)
    engine.observe([drift_obs(0, 0.4, feature=f) for f in ("a", "b")], now=window_end(0))
    data = otel.metrics.get_metrics_data()
    assert data is not None
    points = [
        (dict(p.attributes or {}), p.value)
        for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
        if metric.name == semconv.METRIC_ALERTS_FIRING for p in metric.data.data_points
    ]
    assert points == [({semconv.ML_MODEL_NAME: "churn", semconv.ML_ALERT_RULE: "feature_drift",
                        semconv.ML_ALERT_SEVERITY: "warning"}, 2)]
    engine.close()


def test_observation_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="Observation.kind 'acuracy' is unknown"):
        Observation("m", None, "acuracy", 1.0, 0.0, 1.0, 1)  # type: ignore[arg-type]
    obs = Observation("m", None, ObservationKind.ERROR_RATE, 0.1, 0, 1, 1)
    assert obs.kind.value == "error_rate"


def test_alert_of_a_removed_rule_or_an_absent_signal_resolves(tmp_path: Path) -> None:
    engine = engine_for({"defaults": {"for_windows": 1}}, state_dir=tmp_path)
    engine.observe([drift_obs(0, 0.5, feature="age"), drift_obs(0, 0.5, feature="income")],
                   now=window_end(0))
    engine.close()
    # restarted with the drift rule switched off for churn: both alerts resolve
    engine = engine_for({"defaults": {"for_windows": 1},
                         "models": {"churn": {"feature_drift": {"enabled": False}}}},
                        state_dir=tmp_path)
    resolved = engine.observe([], now=window_end(1))
    assert sorted((t.feature, t.state.value) for t in resolved) == [
        ("age", "resolved"), ("income", "resolved")]
    assert engine.firing() == [] and engine.observe([], now=window_end(2)) == []
    engine.close()
    # absent for longer than resolve_if_absent: resolves; observed recently: stays
    engine = engine_for({"defaults": {"for_windows": 1, "resolve_if_absent": "5m"}})
    engine.observe([drift_obs(0, 0.5, feature="age"), drift_obs(0, 0.5, feature="income")],
                   now=window_end(0))
    for i in range(1, 7):
        out = engine.observe([drift_obs(i, 0.5, feature="income")], now=window_end(i))
        assert [(t.feature, t.state.value) for t in out] == (
            [("age", "resolved")] if i == 6 else [])
    assert [t.feature for t in engine.firing()] == ["income"]
    engine.close()


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(1, 200),
    initial=st.floats(0.01, 10.0),
    cap=st.floats(10.0, 600.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_backoff_is_bounded_and_jittered_below_nominal(
    attempt: int, initial: float, cap: float, jitter: float, seed: int
) -> None:
    import random

    from otel_ml.alerting import RetryPolicy

    policy = RetryPolicy(initial_backoff=initial, max_backoff=cap, jitter=jitter)
    nominal = min(cap, initial * 2.0 ** (attempt - 1))
    delay = policy.backoff(attempt, random.Random(seed))
    assert (1 - jitter) * nominal - 1e-9 <= delay <= nominal <= cap


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=60),
    n=st.integers(1, 3),
    m=st.integers(1, 3),
)
def test_re_evaluations_keep_transitions_alternating(
    events: list[tuple[int, bool]], n: int, m: int
) -> None:
    """Windows advance or are re-evaluated (up to 3 back) in any pattern: firing and
    resolved still alternate, and repeating the last observation never transitions."""
    engine = engine_for({"defaults": {"for_windows": n, "resolve_after_windows": m,
                                      "repeat_interval": "never"}})
    newest, kinds = 0, []
    for back, breached in events:
        i = max(newest - back, 0) if back else newest + 1
        newest = max(newest, i)
        obs = [drift_obs(i, 0.5 if breached else 0.0)]
        kinds += [t.state.value for t in engine.observe(obs, now=window_end(newest))]
        assert engine.observe(obs, now=window_end(newest)) == []
    engine.close()
    assert kinds == ["firing", "resolved"] * (len(kinds) // 2) + ["firing"] * (len(kinds) % 2)


def test_unusable_state_dir_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="state_dir: cannot open the alert store"):
        engine_for(state_dir=blocker / "alerts")
