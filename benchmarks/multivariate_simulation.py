"""Multivariate drift: false alarms and detection of a correlation flip, against NannyML.

Run from the repository root (any Python 3.10+ with venv)::

    python benchmarks/multivariate_simulation.py           # full run (~10 min), prints tables
    python benchmarks/multivariate_simulation.py --quick   # fewer windows
    python benchmarks/multivariate_simulation.py --variance-sweep --no-install
        # ours only: the share of variance the PCA keeps (0.8 by default) against
        # detection of subtler changes and false alarms, 1,000-row windows

NannyML is installed into the benchmark's **own** virtual environment,
``benchmarks/.venv-nannyml`` (git-ignored; the one ``estimated_performance.py`` uses),
with ``pip install -e .`` (this project), never into the project's; the script then
re-runs itself there. ``--no-install`` runs here without NannyML.

For each scenario, a 100,000-row reference and, at 1,000 and 10,000 rows per window,
windows drawn from the reference's distribution (no drift) and windows whose
correlation flipped sign with every marginal unchanged. Each window is judged by:

- ours: ``otel_ml.compare(profile, window)``: the multivariate check
  (``DriftReport.multivariate``: the profile's PCA, the default share of the variance
  or ``--variance``, the rows' reconstruction errors against the reference's under
  the default ``DriftPolicy``), and, beside it, the per-feature verdicts of the same
  policy (Bonferroni over the features);
- NannyML: ``DataReconstructionDriftCalculator`` with its defaults but for the PCA,
  which keeps the same share of the variance as ours (``n_components``; NannyML's own
  default is 65 %), the mean reconstruction error per chunk, alert beyond the mean +- 3
  standard deviations of the reference's chunks), ``chunk_size`` = the window size,
  fitted on the same reference.

Scenarios (numeric features; the flip keeps each marginal):

- ``pair``: ``a`` N(10, 2) and ``b`` N(5, 3) with correlation 0.8, and three
  independent features (normal, log-normal, Poisson counts); the flip makes it -0.8;
- ``pair, weak``: the same with correlation 0.5 -> -0.5, and ``pair, 0.3``: 0.3 -> -0.3;
- ``pair, 0.8 -> 0.6``: not a flip, a correlation that weakens (a subtler change);
- ``ten``: four normal features loading on one factor (pairwise correlation 0.5625) and
  six independent ones (normal, log-normal, Poisson, uniform, exponential, normal); the
  flip mirrors one of the four around its mean, so its three correlations change sign.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _nannyml_env import rerun_inside

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MARK = "OTEL_ML_MULTIVARIATE_BENCH_ENV"
REFERENCE_ROWS = 100_000

Columns = dict[str, np.ndarray]


def _pair(
    rho: float, changed: float | None = None
) -> Callable[[np.random.Generator, int, bool], Columns]:
    """Correlation ``rho``; the changed windows have ``changed`` (default ``-rho``)."""

    def make(rng: np.random.Generator, n: int, flipped: bool) -> Columns:
        r = (-rho if changed is None else changed) if flipped else rho
        a = rng.normal(size=n)
        b = r * a + np.sqrt(1 - r**2) * rng.normal(size=n)
        return {
            "a": 10 + 2 * a,
            "b": 5 + 3 * b,
            "normal": rng.normal(size=n),
            "lognormal": rng.lognormal(0.0, 0.75, n),
            "count": rng.poisson(3.0, n).astype(float),
        }

    return make


def _ten(rng: np.random.Generator, n: int, flipped: bool) -> Columns:
    f = rng.normal(size=n)
    cols: Columns = {}
    for i in range(4):
        g = 0.75 * f + np.sqrt(1 - 0.75**2) * rng.normal(size=n)
        cols[f"g{i}"] = (i + 1) * 10.0 + (i + 1) * g
    if flipped:  # mirror g0 around its mean: same marginal, correlations of g0 flip sign
        cols["g0"] = 20.0 - cols["g0"]
    cols |= {
        "normal": rng.normal(size=n),
        "lognormal": rng.lognormal(0.0, 0.75, n),
        "count": rng.poisson(3.0, n).astype(float),
        "uniform": rng.uniform(0.0, 1.0, n),
        "exponential": rng.exponential(2.0, n),
        "normal2": rng.normal(3.0, 0.5, n),
    }
    return cols


SCENARIOS: dict[str, Callable[[np.random.Generator, int, bool], Columns]] = {
    "pair": _pair(0.8),
    "pair, weak": _pair(0.5),
    "pair, 0.3": _pair(0.3),
    "pair, 0.8 -> 0.6 (weakened, no flip)": _pair(0.8, 0.6),
    "ten": _ten,
}


def _ours(profile: Any, windows: list[Columns]) -> tuple[int, int, int, int]:
    """(multivariate flagged, windows with a feature flagged, feature-windows flagged,
    feature-windows) over ``windows``."""
    from otel_ml.stats import compare

    mv = any_feature = flagged = total = 0
    for w in windows:
        report = compare(profile, w)
        assert report.multivariate is not None
        mv += report.multivariate.drifted
        any_feature += report.n_drifted > 0
        flagged += report.n_drifted
        total += len(report.features)
    return mv, any_feature, flagged, total


def _nannyml(
    reference: Columns, windows: list[Columns], size: int, variance: float
) -> int | None:
    """Chunks NannyML's data reconstruction drift alerts on (one chunk per window), its
    PCA keeping the same share of the variance as ours."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no analytics calls home
    try:
        import nannyml as nml
        import pandas as pd
    except ImportError:
        return None
    names = list(reference)
    calc = nml.DataReconstructionDriftCalculator(
        column_names=names, chunk_size=size, n_components=variance
    )
    calc.fit(pd.DataFrame(reference))
    analysis = pd.DataFrame({n: np.concatenate([w[n] for w in windows]) for n in names})
    df = calc.calculate(analysis).filter(period="analysis").to_df()
    alerts = df[("reconstruction_error", "alert")].to_numpy()
    assert len(alerts) == len(windows), (len(alerts), len(windows))
    return int(alerts.sum())


def _pct(k: int | None, n: int) -> str:
    """A share with its count: ``0.10 % (2)``."""
    return "–" if k is None else f"{100.0 * k / n:.2f} % ({k})"


def run(quick: bool, variance: float | None = None) -> int:
    from otel_ml.sketch import Profile
    from otel_ml.sketch._multivariate import DEFAULT_VARIANCE

    share = DEFAULT_VARIANCE if variance is None else variance

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    plan = {1_000: (40, 10), 10_000: (20, 5)} if quick else {1_000: (2_000, 100), 10_000: (400, 40)}
    began = time.process_time()
    rows = []
    for s_i, (name, make) in enumerate(SCENARIOS.items()):
        rng = np.random.default_rng(1000 + s_i)
        reference = make(rng, REFERENCE_ROWS, False)
        profile = Profile.from_data(reference, multivariate_variance=share)
        model = profile.multivariate
        assert model is not None
        say(f"{name}: {len(model.features)} features, {model.n_components} components")
        for size, (n_null, n_flip) in plan.items():
            null = [make(rng, size, False) for _ in range(n_null)]
            flip = [make(rng, size, True) for _ in range(n_flip)]
            o_null, o_null_any, f_null, ft_null = _ours(profile, null)
            o_flip, o_flip_any, _, _ = _ours(profile, flip)
            n_null_alerts = _nannyml(reference, null, size, share)
            n_flip_alerts = _nannyml(reference, flip, size, share)
            rows.append([
                name, f"{size:,}", f"{n_null} / {n_flip}",
                _pct(o_null, n_null), _pct(f_null, ft_null), _pct(o_null_any, n_null),
                _pct(n_null_alerts, n_null),
                _pct(o_flip, n_flip), _pct(o_flip_any, n_flip), _pct(n_flip_alerts, n_flip),
            ])
            say(f"  {size:,} rows: {rows[-1][3:]}")
    totals = [sum(int(r[2].split(" / ")[0].replace(",", "")) for r in rows if r[1] == s)
              for s in ("1,000", "10,000")]
    say(f"no-drift windows in all: {totals}")
    try:
        import nannyml

        versions = f"NannyML {nannyml.__version__}"
    except ImportError:
        versions = "NannyML not available (--no-install)"
    flags = (" --quick" if quick else "") + (f" --variance {variance:g}" if variance else "")
    print(f"Command: `python benchmarks/multivariate_simulation.py{flags}` "
          f"({(time.process_time() - began) / 60:.0f} min CPU); reference {REFERENCE_ROWS:,} "
          f"rows per scenario; both PCAs keep {share:.0%} of the variance; {versions}, "
          f"numpy {np.__version__}.\n")
    header = ["scenario", "rows", "windows (no drift / flip)",
              "no drift: ours, multivariate", "no drift: ours, per feature (feature-windows)",
              "no drift: ours, any feature (windows)", "no drift: NannyML",
              "flip: ours, multivariate", "flip: ours, any single feature", "flip: NannyML"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


def _weaker_ten(rng: np.random.Generator, n: int, changed: bool) -> Columns:
    """``ten`` whose ``g0`` loads 0.5 instead of 0.75 on the factor (same marginal)."""
    cols = _ten(rng, n, False)
    if changed:
        f = rng.normal(size=n)
        cols["g0"] = 10.0 + 0.5 * f + np.sqrt(1 - 0.25) * rng.normal(size=n)
        for i in range(1, 4):
            g = 0.75 * f + np.sqrt(1 - 0.75**2) * rng.normal(size=n)
            cols[f"g{i}"] = (i + 1) * 10.0 + (i + 1) * g
    return cols


def _few_strong(rng: np.random.Generator, n: int, changed: bool) -> Columns:
    """Three features loading 0.95 on one factor (pairwise correlation ~0.9); changed:
    ``x0`` loads 0.85 instead (its correlations ~0.8, same marginal)."""
    f = rng.normal(size=n)
    cols: Columns = {}
    for i in range(3):
        load = 0.85 if changed and i == 0 else 0.95
        cols[f"x{i}"] = 5.0 * i + load * f + np.sqrt(1 - load**2) * rng.normal(size=n)
    return cols


def _many_weak(rng: np.random.Generator, n: int, changed: bool) -> Columns:
    """Twenty features loading 0.4 on one factor (pairwise correlation 0.16) and ten
    independent noise features (normal, log-normal, Poisson); changed: five of the
    twenty load 0.1 instead (same marginals)."""
    f = rng.normal(size=n)
    cols: Columns = {}
    for i in range(20):
        load = 0.1 if changed and i < 5 else 0.4
        cols[f"w{i}"] = load * f + np.sqrt(1 - load**2) * rng.normal(size=n)
    for i in range(4):
        cols[f"noise{i}"] = rng.normal(size=n)
    for i in range(3):
        cols[f"lognormal{i}"] = rng.lognormal(0.0, 0.75, n)
        cols[f"count{i}"] = rng.poisson(3.0, n).astype(float)
    return cols


SWEEP_CASES: dict[str, Callable[[np.random.Generator, int, bool], Columns]] = {
    "pair, 0.8 -> 0.7": _pair(0.8, 0.7),
    "pair, 0.5 -> 0.3": _pair(0.5, 0.3),
    "ten, one loading 0.75 -> 0.5": _weaker_ten,
    "few strong: 3 loading 0.95, one -> 0.85": _few_strong,
    "many weak: 20 loading 0.4 + 10 noise, five -> 0.1": _many_weak,
}


def variance_sweep(
    n_null: int = 500,
    n_changed: int = 100,
    cases: str = "",
    shares: tuple[float, ...] = (0.5, 0.65, 0.8, 0.9, 0.95),
) -> int:
    """Detection and false alarms of our check by the share of variance kept, beside
    the per-feature verdicts' false alarms on the same no-drift windows."""
    from otel_ml.sketch import Profile
    from otel_ml.sketch._multivariate import ReconstructionModel
    from otel_ml.stats import compare, multivariate_drift

    chosen = {k: v for k, v in SWEEP_CASES.items() if not cases or any(
        c.strip() and k.startswith(c.strip()) for c in cases.split(";"))}
    size = 1_000
    print("Command: `python benchmarks/multivariate_simulation.py --variance-sweep "
          f"--no-install --null-windows {n_null} --changed-windows {n_changed}"
          f"{' --cases ' + repr(cases) if cases else ''} --shares "
          f"{','.join(f'{v:g}' for v in shares)}`; "
          f"{size:,}-row windows, reference {REFERENCE_ROWS:,} rows.\n")
    print("| case | per feature, no drift (feature-windows) | "
          + " | ".join(f"{v:.0%} kept: components, changed / no drift flagged"
                       for v in shares) + " |")
    print("|---|---|" + "---|" * len(shares))
    for name, make in chosen.items():
        i = list(SWEEP_CASES).index(name)
        rng = np.random.default_rng(2000 + i)
        reference = make(rng, REFERENCE_ROWS, False)
        null = [make(rng, size, False) for _ in range(n_null)]
        changed = [make(rng, size, True) for _ in range(n_changed)]
        profile = Profile.from_data(reference, multivariate=False)
        flagged = total = 0
        for w in null:
            report = compare(profile, w)
            flagged += report.n_drifted
            total += len(report.features)
        cells = [_pct(flagged, total)]
        for v in shares:
            model = ReconstructionModel.fit(reference, variance=v)
            assert model is not None
            hit = sum(multivariate_drift(model, model.error_sketch(w)).drifted for w in changed)
            fa = sum(multivariate_drift(model, model.error_sketch(w)).drifted for w in null)
            cells.append(f"{model.n_components}: {_pct(hit, n_changed)} / {_pct(fa, n_null)}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer windows (a smoke run)")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create the venv; run here, without NannyML if absent")
    parser.add_argument("--variance-sweep", action="store_true",
                        help="ours only: detection and false alarms by the share of variance "
                        "the PCA keeps")
    parser.add_argument("--null-windows", type=int, default=500,
                        help="--variance-sweep: no-drift windows per case (500)")
    parser.add_argument("--changed-windows", type=int, default=100,
                        help="--variance-sweep: changed windows per case (100)")
    parser.add_argument("--cases", default="",
                        help="--variance-sweep: ';'-separated prefixes of the cases to run")
    parser.add_argument("--variance", type=float, default=None,
                        help="the share of variance both PCAs keep (default: ours)")
    parser.add_argument("--shares", default="0.5,0.65,0.8,0.9,0.95",
                        help="--variance-sweep: the shares of variance to try, comma-separated")
    args = parser.parse_args(argv)
    if args.variance_sweep:
        shares = tuple(float(v) for v in args.shares.split(","))
        return variance_sweep(args.null_windows, args.changed_windows, args.cases, shares)
    if not args.no_install and os.environ.get(MARK) is None:
        code = rerun_inside(__file__, argv, MARK)
        if code is not None:
            return code
        print("benchmark venv unusable: running without NannyML", file=sys.stderr)
    return run(args.quick, args.variance)


if __name__ == "__main__":
    sys.exit(main())
