"""``otel-ml demo --offline``: a real model, a drifted production batch, a report.

Trains a logistic regression on the breast cancer dataset that ships with
scikit-learn, profiles the training split (features, model scores, labels),
applies :data:`~otel_ml.demo.SCANNER_RECALIBRATION` to the held-out rows as
"production", compares, prints the summary and writes into ``--output-dir``:

- ``reference.profile.json`` -- the reference profile (``otel-ml profile`` format),
- ``production.csv`` -- the drifted batch, to try ``otel-ml drift`` on,
- ``report.html`` -- the self-contained drift report.

``otel-ml demo --offline`` runs it (:mod:`otel_ml.demo._command` parses the options);
the streaming demo of the full system (monitored model, evaluator, alerts) is the
default ``otel-ml demo``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from otel_ml._errors import ConfigurationError

if TYPE_CHECKING:
    from otel_ml.demo import Dataset

__all__ = ["run_command", "run_offline"]


def _write_csv(path: Path, data: Dataset) -> None:
    names = list(data.feature_names)
    cols = [data.features[n] for n in names]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*names, "diagnosis"])
        for i in range(data.n_rows):
            w.writerow([repr(float(c[i])) for c in cols] + [data.target_names[data.target[i]]])


def run_offline(output_dir: Path, *, seed: int = 0, shift: bool = True) -> dict[str, Any]:
    """Run the demo; returns what it printed about (for tests and the caller)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:  # pragma: no cover - the demo extra installs it
        raise ConfigurationError(
            "the demo needs scikit-learn: pip install 'otel-ml[demo]'"
        ) from exc
    from otel_ml.demo import SCANNER_RECALIBRATION, apply_shifts, load_dataset, split
    from otel_ml.sketch import Profile
    from otel_ml.stats import compare

    started = time.perf_counter()
    data = load_dataset()
    train, holdout = split(data, holdout=0.3, seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train.matrix(), train.target)
    shifts = SCANNER_RECALIBRATION if shift else ()
    production = apply_shifts(holdout, shifts, np.random.default_rng(seed), reference=train)

    def scores(d: Dataset) -> Any:
        return model.predict_proba(d.matrix())[:, 1]

    def labels(d: Dataset) -> Any:
        return np.array([d.target_names[t] for t in d.target], dtype=object)

    reference = Profile.from_data(
        train.features,
        model="breast_cancer_logreg",
        version="1",
        predictions=scores(train),
        labels=labels(train),
    )
    current = Profile.from_data(
        production.features, predictions=scores(production), labels=labels(production)
    )
    report = compare(reference, current)
    acc_before = float(np.mean(model.predict(holdout.matrix()) == holdout.target))
    acc_after = float(np.mean(model.predict(production.matrix()) == production.target))

    output_dir.mkdir(parents=True, exist_ok=True)
    profile_path = output_dir / "reference.profile.json"
    csv_path = output_dir / "production.csv"
    html_path = output_dir / "report.html"
    reference.save(profile_path)
    _write_csv(csv_path, production)
    html_path.write_text(
        _html(report, reference, current, shifts, train, production, acc_before, acc_after),
        encoding="utf-8",
    )
    return {
        "report": report,
        "accuracy_before": acc_before,
        "accuracy_after": acc_after,
        "shifts": shifts,
        "n_train": train.n_rows,
        "n_production": production.n_rows,
        "profile": profile_path,
        "csv": csv_path,
        "html": html_path,
        "seconds": time.perf_counter() - started,
    }


def _html(
    report: Any,
    reference: Any,
    current: Any,
    shifts: Any,
    train: Dataset,
    production: Dataset,
    acc_before: float,
    acc_after: float,
) -> str:
    from otel_ml.report import drift_page, key_values, paragraph, section, table

    scenario = section(
        "Scenario",
        paragraph(
            f"A logistic regression is trained on {train.n_rows} biopsies of the Wisconsin "
            "breast cancer dataset (shipped with scikit-learn). Its reference profile is "
            f"compared with a production batch of {production.n_rows} held-out biopsies "
            + ("after a simulated scanner recalibration:" if shifts else "(no shift applied).")
        ),
        table(
            ["feature", "change", "why"],
            [[s.feature, _describe(s), s.why] for s in shifts],
        )
        if shifts
        else paragraph("No shift injected.", muted=True),
        key_values(
            [
                ("accuracy on held-out data", f"{acc_before:.3f}"),
                ("accuracy on the production batch", f"{acc_after:.3f}"),
            ]
        ),
    )
    return drift_page(
        report,
        reference,
        current,
        title="otel-ml demo: drift report",
        subtitle="reference = training split, current = simulated production batch",
        labels=("training", "production"),
        intro=[scenario],
    )


def _describe(s: Any) -> str:
    parts = []
    if s.scale != 1.0:
        parts.append(f"×{s.scale:g}")
    if s.offset_sd:
        parts.append(f"{s.offset_sd:+g} sd")
    if s.noise_sd:
        parts.append(f"+ noise ({s.noise_sd:g} sd)")
    return " ".join(parts) or "none"


def run_command(args: argparse.Namespace) -> int:
    """``otel-ml demo --offline``: uses ``output_dir``, ``seed`` and ``no_drift`` of ``args``."""
    from otel_ml.report import drift_summary_table

    out = run_offline(Path(args.output_dir), seed=args.seed, shift=not args.no_drift)
    report = out["report"]
    print(
        f"otel-ml demo: breast cancer dataset (scikit-learn), logistic regression; "
        f"reference = {out['n_train']} training rows, production = {out['n_production']} rows"
    )
    for s in out["shifts"]:
        print(f"  injected shift: {s.feature} {_describe(s)} ({s.why})")
    print()
    print(drift_summary_table(report))
    n = len(report.features)
    verdict = f"DRIFT in {report.n_drifted} of {n}" if report.drifted else f"no drift in {n}"
    print(f"\n{verdict} features")
    for fd in report.predictions:
        print(f"model score: {fd.reason}")
    print(
        f"accuracy: {out['accuracy_before']:.3f} on held-out data, "
        f"{out['accuracy_after']:.3f} on the production batch"
    )
    print(f"\nreport:  {out['html']}")
    print(f"profile: {out['profile']}\nbatch:   {out['csv']}")
    print(f"try:     otel-ml drift {out['profile']} {out['csv']} --html drift.html")
    print(f"({out['seconds']:.1f} s)")
    return 0
