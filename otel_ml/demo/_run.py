"""Run the streaming demo: train, profile, serve simulated production through ``@monitor``.

:func:`run_demo` trains a logistic regression on the breast cancer dataset that
ships with scikit-learn, saves the reference profile of its training split, and
serves the :class:`~otel_ml.demo.Scenario` window by window on a
:class:`~otel_ml.demo.SimulatedClock`: each predict call goes through a function
decorated with ``@otel_ml.monitor``, labels come back later through
``otel_ml.record_outcome``, and the SDK exports over real OTLP/HTTP to the
evaluator (embedded in this process by default, or one at ``evaluator_endpoint``).
It returns a :class:`DemoResult`; the report and the console are built from it.

One demo per process: it installs the global OpenTelemetry providers and the
SDK's clock.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from otel_ml._errors import ConfigurationError
from otel_ml.alerting import AlertTransition
from otel_ml.demo._data import Dataset, load_dataset, split
from otel_ml.demo._findings import Found, Truth, WindowSummary, summaries
from otel_ml.demo._scenario import Phase, Scenario, SimulatedClock, Traffic
from otel_ml.demo._wiring import (
    AppTelemetry,
    EmbeddedEvaluator,
    evaluator_settings,
    write_evaluator_yaml,
)

__all__ = [
    "CLASS_NAMES",
    "MODEL",
    "VERSION",
    "DemoOptions",
    "DemoResult",
    "run_demo",
]

MODEL = "breast_cancer"
VERSION = "1"
#: The model predicts P(malignant): column 1 of predict_proba, the positive class.
CLASS_NAMES = ("benign", "malignant")
PROFILE_FILE = "reference.profile.json"
EVALUATOR_FILE = "evaluator.yaml"


@dataclass(frozen=True)
class DemoOptions:
    """What ``otel-ml demo`` was asked to do."""

    output_dir: Path = Path("otel-ml-demo")
    scenario: Scenario = Scenario()
    seed: int = 0
    evaluator_endpoint: str | None = None
    evaluator_api: str | None = None
    prometheus_port: int = 0
    api_port: int = 0


@dataclass(frozen=True)
class DemoResult:
    scenario: Scenario
    start: float
    windows: tuple[WindowSummary, ...]
    alerts: tuple[AlertTransition, ...]
    holdout_accuracy: float
    n_train: int
    output_dir: Path
    profile_path: Path
    seconds: float
    embedded: bool
    endpoints: dict[str, str] = field(default_factory=dict)
    reports: tuple[Any, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def evaluated(self) -> bool:
        """Whether the evaluator's findings are known (embedded, or read from its API)."""
        return self.embedded or any(math.isfinite(w.accuracy) or w.drifted for w in self.windows)

    def phase_windows(self, phase: Phase) -> tuple[WindowSummary, ...]:
        return tuple(w for w in self.windows if w.phase is phase)


def _train(seed: int) -> tuple[Any, Dataset, Dataset, Dataset]:
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:  # pragma: no cover - the demo extra installs it
        raise ConfigurationError(
            "the demo needs scikit-learn: pip install 'otel-ml[demo]'"
        ) from exc
    data = load_dataset()
    train, holdout = split(data, holdout=0.3, seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train.matrix(), _malignant(train))
    return model, data, train, holdout


def _malignant(d: Dataset) -> Any:
    """1 = malignant (the dataset's target 0), the positive class."""
    return (d.target == 0).astype(np.int64)


def _names(y: Any) -> list[str]:
    return [CLASS_NAMES[int(v)] for v in y]


def _profile(model: Any, train: Dataset) -> Any:
    from otel_ml.sketch import Profile

    proba = model.predict_proba(train.matrix())
    predicted = np.array(_names(proba.argmax(axis=1)), dtype=object)
    return Profile.from_data(
        train.features,
        model=MODEL,
        version=VERSION,
        predictions={CLASS_NAMES[0]: proba[:, 0], CLASS_NAMES[1]: proba[:, 1], "class": predicted},
        labels=np.array(_names(_malignant(train)), dtype=object),
    )


def run_demo(
    options: DemoOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_alert: Callable[[AlertTransition], None] | None = None,
    on_ready: Callable[[dict[str, str], float], None] | None = None,
    before_stop: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Run the demo (see the module docstring).

    ``progress(step, total)`` after each simulated step, ``on_alert`` for each alert
    transition of the embedded evaluator, ``on_ready(endpoints, start)`` once
    everything listens, ``before_stop(result)`` at the end while the endpoints are
    still open.
    """
    import otel_ml
    from otel_ml.instrumentation import use_clock

    started = time.perf_counter()
    if options.seed < 0:
        raise ConfigurationError(f"--seed: expected a non-negative integer, got {options.seed}")
    if options.evaluator_endpoint is not None:
        from otel_ml.demo._external import check_endpoint

        check_endpoint(options.evaluator_endpoint)
    if options.evaluator_api is not None:
        from otel_ml.demo._external import check_api_url

        if options.evaluator_endpoint is None:
            raise ConfigurationError(
                "--evaluator-api reads an external evaluator: give its --evaluator-endpoint too"
            )
        check_api_url(options.evaluator_api)
    sc = options.scenario
    out = options.output_dir
    out.mkdir(parents=True, exist_ok=True)
    model, data, train, holdout = _train(options.seed)
    holdout_accuracy = float(np.mean(model.predict(holdout.matrix()) == _malignant(holdout)))
    profile = _profile(model, train)
    profile_path = out / PROFILE_FILE
    profile.save(profile_path)
    write_evaluator_yaml(
        out / EVALUATOR_FILE,
        evaluator_settings(sc, PROFILE_FILE, http_port=4318, api_port=8080),
    )

    # Simulated time: the run covers the windows just before now, so the evaluator's
    # report reads like the last minutes of a service (and an external evaluator on
    # real time finds every window already closed).
    w = sc.window_seconds
    t0 = math.floor(time.time() / w) * w - (sc.n_windows + 2) * w
    clock = SimulatedClock(t0)
    use_clock(clock.now_ns)

    evaluator = None
    endpoint = options.evaluator_endpoint
    try:
        if endpoint is None:
            settings = evaluator_settings(sc, PROFILE_FILE, http_port=0, api_port=options.api_port)
            evaluator = EmbeddedEvaluator.start(out, settings, clock.now, on_alert)
            endpoint = evaluator.otlp_url
        telemetry = AppTelemetry.start(endpoint, prometheus_port=options.prometheus_port)
    except BaseException:
        if evaluator is not None:
            evaluator.stop()
        use_clock(None)
        raise
    endpoints = {"otlp": endpoint, "prometheus": telemetry.prometheus_url}
    if evaluator is not None:
        endpoints["evaluator_metrics"] = f"{evaluator.api_url}/metrics"
        endpoints["evaluator_report"] = f"{evaluator.api_url}/models/{MODEL}"
    if on_ready is not None:
        on_ready(endpoints, t0)

    @otel_ml.monitor(
        model=MODEL,
        version=VERSION,
        task="binary_classification",
        framework="sklearn",
        reference=profile,
        feature_names=list(train.feature_names),
        class_names=list(CLASS_NAMES),
    )
    def predict(x: Any) -> Any:
        return model.predict_proba(x)

    rng = np.random.default_rng(options.seed + 1)
    traffic = Traffic(data, train, rng, flip=sc.flip)
    labels: list[tuple[float, int, tuple[str, ...], list[str]]] = []  # (due, seq, ids, actuals)
    truths = [Truth() for _ in range(sc.n_windows)]
    seq = 0
    calls_per_step = sc.calls_per_window // sc.steps_per_window
    total_steps = sc.n_windows * sc.steps_per_window
    lo, hi = sc.label_delay

    def deliver_and_evaluate(until: float) -> None:
        while labels and labels[0][0] <= until:
            due, _, ids, actuals = heapq.heappop(labels)
            clock.set(due)
            otel_ml.record_outcome(model=MODEL, version=VERSION, ids=ids, actuals=actuals)
        clock.set(until)
        telemetry.export()
        if evaluator is not None:
            evaluator.tick(until)

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            telemetry.shutdown()
            if evaluator is not None:
                evaluator.stop()
            use_clock(None)

    try:
        for step in range(total_steps):
            win, k = divmod(step, sc.steps_per_window)
            phase = sc.phase(win)
            step_start = t0 + win * w + k * sc.step_seconds
            for c in range(calls_per_step):
                at = step_start + (c + 0.5) * sc.step_seconds / calls_per_step
                clock.set(at)
                batch = traffic.batch(phase, sc.rows_per_call)
                proba = predict(batch.matrix())
                ids = otel_ml.last_prediction_ids()
                y = _malignant(batch)
                truths[win].rows += len(y)
                truths[win].correct += int(np.sum(proba.argmax(axis=1) == y))
                keep = rng.random(len(y)) < sc.label_fraction
                if keep.any():
                    actuals = _names(y[keep])
                    kept = tuple(i for i, m in zip(ids, keep, strict=True) if m)
                    heapq.heappush(labels, (at + rng.uniform(lo, hi), seq, kept, actuals))
                    seq += 1
            deliver_and_evaluate(step_start + sc.step_seconds)
            if progress is not None:
                progress(step + 1, total_steps)
        # After the last window: the late labels, then every window closes.
        end = t0 + sc.n_windows * w
        t = end
        while labels or t < end + sc.grace_seconds + sc.step_seconds:
            t += sc.step_seconds
            deliver_and_evaluate(t)
        telemetry.export()
        reports: tuple[Any, ...] = ()
        extras: dict[str, Any] = {"profile": profile}
        found: dict[float, Found] = {}
        alerts: tuple[AlertTransition, ...] = ()
        starts = [t0 + i * w for i in range(sc.n_windows)]
        if evaluator is not None:
            reports = tuple(evaluator.reports(MODEL))
            extras["window_data"] = _drift_windows(evaluator, reports, sc, t0)
            found = {r.window_start: Found.of_report(r) for r in reports}
            alerts = tuple(evaluator.transitions)
        elif options.evaluator_api is not None:
            from otel_ml.demo._external import fetch_findings

            ext = fetch_findings(
                options.evaluator_api, MODEL, starts, min_coverage=0.8 * sc.label_fraction
            )
            found = {s: Found.of_history(h) for s, h in ext.history.items()}
            alerts = tuple(AlertTransition.from_json(json.dumps(a)) for a in ext.alerts)
        result = DemoResult(
            scenario=sc,
            start=t0,
            windows=tuple(summaries(sc, t0, truths, found)),
            alerts=alerts,
            holdout_accuracy=holdout_accuracy,
            n_train=train.n_rows,
            output_dir=out,
            profile_path=profile_path,
            seconds=time.perf_counter() - started,
            embedded=evaluator is not None,
            endpoints=endpoints,
            reports=reports,
            extras=extras,
        )
        if before_stop is not None:
            before_stop(result)
    finally:
        stop()
    return result


def _drift_windows(
    evaluator: EmbeddedEvaluator, reports: tuple[Any, ...], sc: Scenario, t0: float
) -> dict[str, Any]:
    """The stored sketches of one window per phase (the last of each), for the plots."""
    out: dict[str, Any] = {}
    for r in reports:
        index = round((r.window_start - t0) / sc.window_seconds)
        if 0 <= index < sc.n_windows:
            out[sc.phase(index).value] = (index, evaluator.window(r))
    return out
