"""When does a feature drift? The default verdict policy.

A feature is reported as drifted only when **all three** hold:

1. **Enough data**: at least ``min_rows`` non-missing rows in the current window
   and in the reference. Below that nothing is concluded (``reason`` says so).
2. **A real effect**: an effect size at or above a threshold. For numeric
   features the Wasserstein distance divided by the reference standard
   deviation ("the distribution moved by 0.1 standard deviations on average");
   for categorical features the total variation distance ("5 % of the rows
   changed category"). Effect sizes do not grow with the sample size, so huge
   windows do not turn tiny, harmless differences into alarms.
3. **Not chance**: a significance test below ``alpha`` corrected for the number
   of features tested together (Bonferroni: ``alpha / n_tests``) -- for numeric
   features KS and a chi-square on reference-decile bins combined (KS catches
   location shifts, the chi-square changes of spread), chi-square (or G) for
   categorical ones. This keeps small
   windows from drifting by chance, whatever the noise in the effect size.

The defaults were chosen by the simulation in ``benchmarks/drift_simulation.py``
(results in ``docs/drift.md``): at most 1 % false alarms per feature and window at
every window size, and a 0.25 standard-deviation mean shift caught at 10,000 rows.

Every feature-window also gets a graded :class:`Grade`: ``drift`` (the three rules
hold: what alerts), ``minor`` (enough data and significant after the correction, but
the effect is below the threshold: certain, yet small), ``none``, or
``too_few_rows`` (rule 1 failed: nothing concluded).

Examples
--------
>>> DriftPolicy().test_level(n_tests=10)
0.001
>>> v = DriftPolicy().decide(effect_name="wasserstein_normalised", effect=0.04, threshold=0.1,
...                          test_name="ks_chi2", p_value=1e-6, n_reference=100_000,
...                          n_current=10_000, n_tests=5)
>>> v.grade, v.drifted, v.level
(<Grade.MINOR: 'minor'>, False, 0.002)
>>> DriftPolicy(numeric_threshold=-1)
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: DriftPolicy.numeric_threshold: must be >= 0, got -1
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from otel_ml._errors import ConfigurationError

__all__ = [
    "CATEGORICAL_EFFECTS",
    "CATEGORICAL_TESTS",
    "CHI2",
    "G",
    "KS",
    "KS_CHI2",
    "NUMERIC_TESTS",
    "NUMERIC_EFFECTS",
    "TOTAL_VARIATION",
    "WASSERSTEIN_NORMALISED",
    "Correction",
    "DriftPolicy",
    "Grade",
    "Verdict",
]

# Statistic names (keys of FeatureDrift.statistics, fields of Numeric/CategoricalStatistics)
# that can serve as the effect size, and the tests; FeatureDrift.method / .test take these.
WASSERSTEIN_NORMALISED: Final = "wasserstein_normalised"
TOTAL_VARIATION: Final = "total_variation"
KS: Final = "ks"
CHI2: Final = "chi2"
KS_CHI2: Final = "ks_chi2"
G: Final = "g"
_SHARED_EFFECTS = ("psi", "jensen_shannon", "hellinger")
NUMERIC_EFFECTS: Final = (WASSERSTEIN_NORMALISED, KS, *_SHARED_EFFECTS)
CATEGORICAL_EFFECTS: Final = (TOTAL_VARIATION, *_SHARED_EFFECTS)
CATEGORICAL_TESTS: Final = (CHI2, G)
NUMERIC_TESTS: Final = (KS_CHI2, KS, CHI2)


class Correction(str, Enum):
    """Multiple-testing correction applied to ``alpha``."""

    BONFERRONI = "bonferroni"
    NONE = "none"


class Grade(str, Enum):
    """The graded verdict of one feature-window (``FeatureDrift.verdict``).

    ``DRIFT``: effect at or above the threshold and significant (``drifted``; what
    alerts). ``MINOR``: significant at the corrected level, effect below the threshold.
    ``NONE``: not significant. ``TOO_FEW_ROWS``: fewer than ``min_rows`` on a side.

    >>> [g.value for g in Grade]
    ['drift', 'minor', 'none', 'too_few_rows']
    >>> Grade.MINOR.certain, Grade.NONE.certain
    (True, False)
    """

    DRIFT = "drift"
    MINOR = "minor"
    NONE = "none"
    TOO_FEW_ROWS = "too_few_rows"

    @property
    def certain(self) -> bool:
        """Whether the test was significant: ``drift`` or ``minor``."""
        return self is Grade.DRIFT or self is Grade.MINOR

    @property
    def level(self) -> int:
        """2 for ``drift``, 1 for ``minor``, 0 otherwise (the ``ml.drift.grade`` gauge)."""
        return 2 if self is Grade.DRIFT else 1 if self is Grade.MINOR else 0


@dataclass(frozen=True)
class DriftPolicy:
    """Thresholds of the drift verdict (all configurable; see the module docstring).

    Parameters
    ----------
    numeric_effect, numeric_threshold
        Effect-size statistic for numeric features and its threshold.
    categorical_effect, categorical_threshold
        Effect-size statistic for categorical features and its threshold.
    numeric_test
        ``"ks_chi2"`` (KS and a chi-square on reference-decile bins, Bonferroni-combined:
        location and spread changes), ``"ks"`` or ``"chi2"`` alone.
    categorical_test
        ``"chi2"`` (Pearson) or ``"g"`` (log-likelihood ratio).
    alpha
        Family-wise significance level over the features tested together.
    correction
        ``"bonferroni"`` (divide ``alpha`` by the number of features) or ``"none"``.
    min_rows
        Fewest non-missing rows, in the window and in the reference, for a verdict.
    """

    numeric_effect: str = WASSERSTEIN_NORMALISED
    numeric_threshold: float = 0.1
    numeric_test: str = KS_CHI2
    categorical_effect: str = TOTAL_VARIATION
    categorical_threshold: float = 0.05
    categorical_test: str = CHI2
    alpha: float = 0.01
    correction: Correction = Correction.BONFERRONI
    min_rows: int = 100

    def __post_init__(self) -> None:
        def bad(field: str, problem: str) -> ConfigurationError:
            return ConfigurationError(f"DriftPolicy.{field}: {problem}")

        if self.numeric_effect not in NUMERIC_EFFECTS:
            raise bad("numeric_effect", f"{self.numeric_effect!r} is not one of {NUMERIC_EFFECTS}")
        if self.categorical_effect not in CATEGORICAL_EFFECTS:
            raise bad(
                "categorical_effect",
                f"{self.categorical_effect!r} is not one of {CATEGORICAL_EFFECTS}",
            )
        if self.numeric_test not in NUMERIC_TESTS:
            raise bad("numeric_test", f"{self.numeric_test!r} is not one of {NUMERIC_TESTS}")
        if self.categorical_test not in CATEGORICAL_TESTS:
            raise bad(
                "categorical_test", f"{self.categorical_test!r} is not one of {CATEGORICAL_TESTS}"
            )
        for name in ("numeric_threshold", "categorical_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise bad(name, f"must be >= 0, got {value!r}")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise bad("alpha", f"must be in (0, 1), got {self.alpha!r}")
        try:
            object.__setattr__(self, "correction", Correction(self.correction))
        except ValueError:
            raise bad(
                "correction", f"{self.correction!r} is not 'bonferroni' or 'none'"
            ) from None
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise bad("min_rows", f"must be a positive integer, got {self.min_rows!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (``correction`` as its string): the JSON form.

        >>> DriftPolicy.from_dict(DriftPolicy(alpha=0.05).to_dict()) == DriftPolicy(alpha=0.05)
        True
        """
        d = dataclasses.asdict(self)
        d["correction"] = self.correction.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftPolicy:
        """Inverse of :meth:`to_dict`; a field left out takes its default."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def test_level(self, n_tests: int) -> float:
        """The per-feature significance level for ``n_tests`` features tested together."""
        if self.correction is Correction.BONFERRONI:
            return self.alpha / max(1, n_tests)
        return self.alpha

    def decide(
        self,
        *,
        effect_name: str,
        effect: float,
        threshold: float,
        test_name: str,
        p_value: float,
        n_reference: int,
        n_current: int,
        n_tests: int,
    ) -> Verdict:
        """Apply the three rules and grade the result; the reason names the rule that decided.

        Graded (see :class:`Grade`): the significance test and the effect size decide
        independently, so ``drift`` is exactly ``drifted`` and ``minor`` is a
        significant test with an effect below ``threshold``.

        >>> p = DriftPolicy()
        >>> args = dict(effect_name="total_variation", threshold=0.05, test_name="chi2",
        ...             n_reference=10_000, n_current=1_000, n_tests=1)
        >>> [p.decide(effect=e, p_value=q, **args).grade.value
        ...  for e, q in ((0.2, 1e-9), (0.02, 1e-9), (0.2, 0.5), (0.02, 0.5))]
        ['drift', 'minor', 'none', 'none']
        >>> p.decide(effect=0.2, p_value=1e-9, **{**args, "n_current": 10}).grade.value
        'too_few_rows'
        """
        level = self.test_level(n_tests)
        if min(n_reference, n_current) < self.min_rows:
            return Verdict(
                False,
                f"not enough data: {n_current} rows in the window, {n_reference} in the "
                f"reference (min_rows={self.min_rows})",
                Grade.TOO_FEW_ROWS,
                level,
            )
        big = effect >= threshold
        significant = p_value < level
        effect_text = f"{effect_name} {effect:.3g} {'>=' if big else '<'} {threshold:g}"
        test_text = f"{test_name} p={p_value:.2g} {'<' if significant else '>='} {level:.2g}"
        if self.correction is Correction.BONFERRONI and n_tests > 1:
            test_text += f" ({self.alpha:g}/{n_tests} features)"
        if big and significant:
            return Verdict(True, f"drift: {effect_text} and {test_text}", Grade.DRIFT, level)
        if significant:
            return Verdict(
                False, f"minor: {effect_text} but significant, {test_text}", Grade.MINOR, level
            )
        if big:
            return Verdict(
                False,
                f"no drift: {effect_text} but not significant, {test_text}",
                Grade.NONE,
                level,
            )
        return Verdict(False, f"no drift: {effect_text}, {test_text}", Grade.NONE, level)


@dataclass(frozen=True)
class Verdict:
    """The decision on one feature and why: ``drifted`` (what alerts), its ``grade`` and
    the per-feature significance ``level`` the test was held to (after the correction)."""

    drifted: bool
    reason: str
    grade: Grade = Grade.NONE
    level: float = math.nan
