"""Measurement error in the unit of the measurement: SEM and the smallest detectable change.

A reliability coefficient says how well readers rank cases; a clinician asks how many mm of
change are real. The standard error of measurement answers that (de Vet et al. 2006, *J Clin
Epidemiol* 59:1033–1039; Weir 2005, *J Strength Cond Res* 19:231–240), from the variance
components of the two-way ANOVA the ICC is computed from (Shrout & Fleiss 1979, Table 2):

- σ²_error = EMS, the residual mean square;
- σ²_rater = (JMS − EMS)/n, the systematic difference between raters (0 when negative);
- SEM_agreement = √(σ²_rater + σ²_error) — the error of one reading by a random reader, the
  counterpart of ICC(A,1); SEM_consistency = √σ²_error, the counterpart of ICC(C,1);
- MDC95 = 1.96 · √2 · SEM: the smallest change between two readings that exceeds measurement
  error with 95 % confidence (Beckerman et al. 2001, *Qual Life Res* 10:571–578).

Computed by hand because neither pingouin nor statsmodels reports them; the mean squares are
those pingouin's ICC uses, checked in the tests against Shrout & Fleiss's printed ANOVA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import _numeric_matrix
from collarreader.errors import AnalysisError

__all__ = ["MDC_FACTOR", "MeasurementError", "measurement_error"]

#: MDC95 / SEM: 1.96 for 95 % confidence times √2 for the difference of two readings.
MDC_FACTOR = 1.96 * math.sqrt(2.0)


@dataclass(frozen=True)
class MeasurementError:
    """Standard error of measurement and smallest detectable change, in the data's unit.

    Attributes
    ----------
    sem : SEM_agreement, √(σ²_rater + σ²_error): one reading by a random reader.
    sem_consistency : √σ²_error: rater differences removed (same reader, or calibrated).
    mdc95 : 1.96 · √2 · sem, the smallest detectable change between two readings.
    variance_rater, variance_error : the variance components (unit²).
    n : targets (cases) used — rows without a missing value.
    k : raters (or reads) per target.
    n_dropped : targets dropped for a missing value.
    """

    sem: float
    sem_consistency: float
    mdc95: float
    variance_rater: float
    variance_error: float
    n: int
    k: int
    n_dropped: int = 0


def measurement_error(ratings: npt.ArrayLike) -> MeasurementError:
    """SEM and MDC95 from an (n_targets × k_raters) matrix, NaN = missing (row dropped).

    Parameters
    ----------
    ratings : 2-D array-like of numbers, cases × readers (inter-observer) or cases × reads of
        one reader (intra-observer), all in the same unit (e.g. mm).

    Returns
    -------
    MeasurementError
        In the unit of ``ratings``.

    Raises
    ------
    AnalysisError
        If the matrix is not 2-D numbers, has fewer than 2 raters, or fewer than 2 complete
        targets.
    """
    matrix = _numeric_matrix(ratings, "Ratings", "cases × readers")
    complete = ~np.isnan(matrix).any(axis=1)
    used = matrix[complete]
    n, k = used.shape
    if k < 2:
        raise AnalysisError(
            f"Measurement error needs at least 2 raters or reads per case; got {k}."
        )
    if n < 2:
        raise AnalysisError(
            f"Measurement error needs at least 2 cases scored by every reader; {n} remain "
            f"after dropping {int((~complete).sum())} with a missing value."
        )
    grand = float(used.mean())
    ss_total = float(((used - grand) ** 2).sum())
    ss_targets = k * float(((used.mean(axis=1) - grand) ** 2).sum())
    ss_raters = n * float(((used.mean(axis=0) - grand) ** 2).sum())
    ss_error = max(ss_total - ss_targets - ss_raters, 0.0)
    ms_raters = ss_raters / (k - 1)
    ms_error = ss_error / ((n - 1) * (k - 1))
    variance_rater = max((ms_raters - ms_error) / n, 0.0)
    sem = math.sqrt(variance_rater + ms_error)
    return MeasurementError(
        sem=sem,
        sem_consistency=math.sqrt(ms_error),
        mdc95=MDC_FACTOR * sem,
        variance_rater=variance_rater,
        variance_error=ms_error,
        n=n,
        k=k,
        n_dropped=int((~complete).sum()),
    )
