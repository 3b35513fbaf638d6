"""The demo's data: a real dataset that ships with scikit-learn, and simulated production.

The Wisconsin breast cancer dataset (569 biopsies, 30 numeric measurements of
cell nuclei from digitised images, benign / malignant) is installed with
scikit-learn, so nothing is downloaded. :func:`load_dataset` returns it as named
columns; :func:`split` makes a training and a held-out part.

Production traffic is simulated by :func:`resample`: rows drawn with
replacement plus a small jitter (2 % of each feature's spread), so a stream can
be longer than the dataset without repeating exact values. :func:`apply_shifts`
then injects a covariate shift described by :class:`Shift` values.
:data:`SCANNER_RECALIBRATION` is a realistic one: a recalibrated imaging scanner
reads cell sizes 20 % larger (so areas 44 % larger) and noisier textures, while
the other measurements stay as they were. :func:`concept_change` flips labels in
part of the population instead: the inputs stay put, the model gets worse.

Which rows to resample: a batch of the held-out rows as they are (171) is an
honest sample. A longer stream resampled from those 171 rows alone makes their
chance difference from the training split look like drift (0.4 and 0.9 falsely
drifted features per 30-feature window at 500 and 2,000 rows, over 10 seeds);
resampling the whole dataset gives none, and the three resized features are
still caught in every window (measured with the default ``DriftPolicy``).

Examples
--------
>>> data = load_dataset()
>>> data.n_rows, len(data.feature_names), data.target_names
(569, 30, ('malignant', 'benign'))
>>> train, holdout = split(data, holdout=0.3, seed=0)
>>> train.n_rows, holdout.n_rows
(398, 171)
>>> rng = np.random.default_rng(0)
>>> prod = apply_shifts(resample(holdout, 1000, rng), SCANNER_RECALIBRATION, rng, reference=train)
>>> ratio = prod.features["mean area"].mean() / holdout.features["mean area"].mean()
>>> round(float(ratio), 1)
1.4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from otel_ml._errors import ConfigurationError

__all__ = [
    "SCANNER_RECALIBRATION",
    "Dataset",
    "Shift",
    "apply_shifts",
    "concept_change",
    "load_dataset",
    "resample",
    "split",
]


@dataclass(frozen=True)
class Dataset:
    """Named float feature columns, integer class labels and the class names."""

    name: str
    features: dict[str, npt.NDArray[np.float64]]
    target: npt.NDArray[np.int64]
    target_names: tuple[str, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.features)

    @property
    def n_rows(self) -> int:
        return int(self.target.size)

    def matrix(self) -> npt.NDArray[np.float64]:
        """The features as a 2-D array (rows x features, in :attr:`feature_names` order)."""
        return np.column_stack([self.features[n] for n in self.feature_names])

    def take(self, rows: npt.NDArray[np.intp]) -> Dataset:
        """The given rows (indices; repeats allowed)."""
        return Dataset(
            self.name,
            {k: v[rows] for k, v in self.features.items()},
            self.target[rows],
            self.target_names,
        )


def load_dataset() -> Dataset:
    """The breast cancer dataset shipped with scikit-learn (no download)."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError as exc:  # pragma: no cover - the demo extra installs it
        raise ConfigurationError(
            "the demo needs scikit-learn: pip install 'otel-ml[demo]'"
        ) from exc
    raw = load_breast_cancer()
    data = np.asarray(raw.data, dtype=np.float64)
    names = [str(n) for n in raw.feature_names]
    return Dataset(
        "breast_cancer",
        {n: data[:, i].copy() for i, n in enumerate(names)},
        np.asarray(raw.target, dtype=np.int64),
        tuple(str(t) for t in raw.target_names),
    )


def split(data: Dataset, *, holdout: float = 0.3, seed: int = 0) -> tuple[Dataset, Dataset]:
    """A stratified ``(train, holdout)`` split."""
    if not 0.0 < holdout < 1.0:
        raise ConfigurationError(f"holdout: must be in (0, 1), got {holdout}")
    rng = np.random.default_rng(seed)
    train_idx, hold_idx = [], []
    for cls in np.unique(data.target):
        idx = rng.permutation(np.flatnonzero(data.target == cls))
        cut = round(idx.size * holdout)
        hold_idx.append(idx[:cut])
        train_idx.append(idx[cut:])
    return (
        data.take(np.sort(np.concatenate(train_idx))),
        data.take(np.sort(np.concatenate(hold_idx))),
    )


def resample(
    data: Dataset, n_rows: int, rng: np.random.Generator, *, jitter: float = 0.02
) -> Dataset:
    """``n_rows`` rows drawn with replacement, each value jittered by ``jitter`` x the
    column's standard deviation (clipped at 0 for columns that are never negative)."""
    rows = rng.integers(0, data.n_rows, size=n_rows)
    out = data.take(rows)
    for name, values in out.features.items():
        col = data.features[name]
        noisy = values + rng.normal(0.0, jitter * float(col.std()), size=n_rows)
        out.features[name] = np.maximum(noisy, 0.0) if col.min() >= 0 else noisy
    return out


@dataclass(frozen=True)
class Shift:
    """A covariate shift of one feature: ``x * scale + offset_sd * sd + noise``.

    ``sd`` is the feature's standard deviation in the reference data; the noise
    is Gaussian with standard deviation ``noise_sd * sd``.
    """

    feature: str
    scale: float = 1.0
    offset_sd: float = 0.0
    noise_sd: float = 0.0
    why: str = ""


SCANNER_RECALIBRATION: tuple[Shift, ...] = (
    Shift("mean radius", scale=1.2, why="the new scanner reads nuclei 20 % larger"),
    Shift("mean perimeter", scale=1.2, why="perimeter scales with the radius"),
    Shift("mean area", scale=1.44, why="area scales with the radius squared"),
    Shift("mean texture", noise_sd=0.8, why="noisier grey levels"),
)


def apply_shifts(
    data: Dataset, shifts: Sequence[Shift], rng: np.random.Generator, *, reference: Dataset
) -> Dataset:
    """A copy of ``data`` with ``shifts`` applied (labels unchanged: a covariate shift)."""
    features = dict(data.features)
    for s in shifts:
        if s.feature not in features:
            raise ConfigurationError(
                f"Shift.feature: no feature {s.feature!r} in the {data.name} dataset"
            )
        sd = float(reference.features[s.feature].std())
        x = features[s.feature] * s.scale + s.offset_sd * sd
        if s.noise_sd:
            x = x + rng.normal(0.0, s.noise_sd * sd, size=x.size)
        features[s.feature] = x
    return Dataset(data.name, features, data.target.copy(), data.target_names)


def concept_change(
    data: Dataset,
    rng: np.random.Generator,
    *,
    feature: str = "worst concave points",
    above_quantile: float = 0.5,
    flip: float = 0.3,
) -> Dataset:
    """A copy of ``data`` whose labels changed meaning for part of the population.

    The label of each row whose ``feature`` lies above its ``above_quantile`` (in
    ``data``) is flipped with probability ``flip`` (binary targets); features are
    unchanged, so input drift monitoring sees nothing and accuracy drops.

    >>> d = load_dataset()
    >>> changed = concept_change(d, np.random.default_rng(0), flip=0.3)
    >>> flipped = float(np.mean(changed.target != d.target))
    >>> 0.1 < flipped < 0.2
    True
    """
    if feature not in data.features:
        raise ConfigurationError(f"concept_change: no feature {feature!r} in {data.name}")
    if not 0.0 <= flip <= 1.0:
        raise ConfigurationError(f"concept_change: flip must be in [0, 1], got {flip}")
    x = data.features[feature]
    hit = (x > np.quantile(x, above_quantile)) & (rng.random(x.size) < flip)
    target = np.where(hit, 1 - data.target, data.target)
    return Dataset(data.name, dict(data.features), target, data.target_names)
