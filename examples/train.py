"""Train the example credit-risk model and write everything the other examples use.

    python examples/train.py --out artifacts

writes into ``artifacts/``:

- ``credit_risk.joblib``: the fitted scikit-learn Pipeline (a ColumnTransformer
  that scales the numeric columns, one-hot encodes the categorical ones and
  drops everything else, such as ``case_id``; then a LogisticRegression);
- ``credit_risk-1.profile.json``: the reference profile of the training data
  (what the evaluator compares live traffic with);
- ``applications.csv``: new applications to score, each with a ``case_id``
  (``--drift`` makes them unlike the training data: higher debt ratios, more
  self-employed applicants);
- ``outcomes.csv``: whether each of those applicants defaulted, the ground
  truth that "arrives later" (``case_id,defaulted``), for ``label_feeder.py``.

The data are synthetic (a seeded generator below), so the example needs no
download.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import otel_ml

MODEL = "credit_risk"
VERSION = "1"
NUMERIC = ["age", "income", "debt_ratio", "credit_lines"]
CATEGORICAL = ["employment", "region"]
EMPLOYMENT = ["salaried", "self_employed", "unemployed", "retired"]
REGIONS = ["north", "south", "east", "west"]


def applications(n: int, *, seed: int, drift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` synthetic applications and whether each defaulted (``drift`` in [0, 1])."""
    rng = np.random.default_rng(seed)
    employment_p = np.array([0.6, 0.2, 0.08, 0.12])
    if drift:
        employment_p = (1 - drift) * employment_p + drift * np.array([0.3, 0.55, 0.1, 0.05])
    frame = pd.DataFrame(
        {
            "case_id": [f"app-{seed}-{i}" for i in range(n)],
            "age": np.clip(rng.normal(41, 12, n), 18, 90).round(),
            "income": rng.lognormal(10.6, 0.45, n).round(2),
            "debt_ratio": rng.beta(2 + 3 * drift, 5, n),
            "credit_lines": rng.poisson(4, n),
            "employment": rng.choice(EMPLOYMENT, n, p=employment_p),
            "region": rng.choice(REGIONS, n),
        }
    )
    logit = (
        -2.2
        + 4.0 * frame["debt_ratio"]
        - 0.6 * (np.log(frame["income"]) - 10.6)
        - 0.02 * (frame["age"] - 41)
        + frame["employment"].map(
            {"salaried": 0.0, "self_employed": 0.5, "unemployed": 1.4, "retired": 0.2}
        )
    )
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, defaulted


def build_model() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ],
        remainder="drop",  # case_id travels with the rows but is not a feature
    )
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=1000))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts"), help="output directory")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--score-rows", type=int, default=2000)
    parser.add_argument("--drift", type=float, default=0.0, help="0 (none) .. 1 (strong)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    train, y_train = applications(args.train_rows, seed=1)
    model = build_model().fit(train, y_train)
    joblib.dump(model, args.out / f"{MODEL}.joblib")

    features = train[NUMERIC + CATEGORICAL]
    scores = model.predict_proba(train)[:, 1]
    profile = otel_ml.Profile.from_data(
        features, model=MODEL, version=VERSION, predictions=scores, labels=y_train
    )
    profile.save(args.out / f"{MODEL}-{VERSION}.profile.json")

    new, outcome = applications(args.score_rows, seed=2, drift=args.drift)
    new.to_csv(args.out / "applications.csv", index=False)
    pd.DataFrame({"case_id": new["case_id"], "defaulted": outcome}).to_csv(
        args.out / "outcomes.csv", index=False
    )
    accuracy = float((model.predict(new) == outcome).mean())
    print(f"trained {MODEL} v{VERSION} on {len(train)} rows; accuracy on new rows {accuracy:.3f}")
    print(f"wrote {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
