"""Agreement statistics: ICC, Cohen's and Fleiss' kappa, Krippendorff's alpha, Bland–Altman.

Thin, checked wrappers over well-kept libraries (DESIGN §8): pingouin for the ICC,
statsmodels (and scikit-learn in the tests) for the kappas, the ``krippendorff`` package for
alpha. What is written here by hand is input checking, the Bland–Altman arithmetic (a mean
and a standard deviation), two vectorised bootstrap engines whose point estimate is checked
against the libraries in the tests, and two numeric fast paths that a study-sized report
needs (DESIGN §10: 10 readers × 500 cases call the ICC hundreds and kappa thousands of times,
and the libraries' per-call setup cost more than the statistics):

- :func:`icc` computes pingouin's figures in closed form from the complete-case matrix: the
  two-way ANOVA mean squares (Shrout & Fleiss 1979, Table 2), the ICC formulas of McGraw &
  Wong (1996, Table 4) and the F-based intervals of Shrout & Fleiss (1979, eqs. 6–8) and
  McGraw & Wong (1996, Table 7, Satterthwaite's degrees of freedom for the absolute-agreement
  forms), in the order ``pingouin.intraclass_corr`` (0.7) evaluates them. It is used only
  where that arithmetic is well conditioned (residual and between-target sums of squares at
  least 1e-6 of the total); anything else — near-exact agreement — goes to pingouin. The tests
  prove value, both interval bounds, F and p equal to pingouin to 1e-9 on hypothesis-generated
  matrices of many shapes, for all six forms; pingouin stays the reference.
- :func:`cohen_kappa` tabulates numeric labels with numpy and evaluates statsmodels'
  ``cohens_kappa`` formulas (kappa and the Fleiss–Cohen–Everitt variance, unweighted, linear,
  quadratic) directly; the tests prove both equal to statsmodels on generated tables, and the
  numeric tabulation equal to the label-by-label one.

Bootstrap resamples are drawn as uniform indices counted with ``bincount`` (multinomial
counts, as ``Generator.multinomial`` gives, in a third of the time), seeded, so intervals are
reproducible run to run.

Policy for awkward data, the same for every statistic:

- Invalid input raises :class:`~collarreader.errors.AnalysisError` with a message saying what
  to fix: wrong shape, mismatched lengths, unknown form/weights/level, labels outside the
  given categories, fewer than 2 targets/subjects/units after dropping missing values, a
  single rater, nothing left after dropping missing values.
- Valid input for which the statistic is mathematically undefined (all ratings identical, a
  single category used by everybody: chance agreement is 1, so kappa is 0/0) gives a result
  with ``value=None`` and a ``note`` saying why. Likewise ``ci=None`` with a note when an
  interval cannot be formed. No NaN is ever returned and no RuntimeWarning escapes.

Every result is a frozen dataclass; ``n`` counts what was actually used, ``n_dropped`` what
was dropped for missing values.
"""

from collarreader.analysis.agreement.alpha import krippendorff_alpha
from collarreader.analysis.agreement.base import (
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    AlphaLevel,
    AlphaResult,
    BlandAltmanResult,
    ConfidenceInterval,
    FleissKappaResult,
    FloatArray,
    IccForm,
    IccResult,
    KappaResult,
    KappaWeights,
    ProportionalBias,
)
from collarreader.analysis.agreement.intraclass import icc, icc_name, icc_software
from collarreader.analysis.agreement.kappa import cohen_kappa, fleiss_kappa
from collarreader.analysis.agreement.limits_of_agreement import bland_altman, tolerance_factors
from collarreader.analysis.agreement.measurement_error import MeasurementError, measurement_error

__all__ = [
    "DEFAULT_N_BOOT",
    "DEFAULT_SEED",
    "AlphaLevel",
    "AlphaResult",
    "BlandAltmanResult",
    "ConfidenceInterval",
    "FleissKappaResult",
    "FloatArray",
    "IccForm",
    "IccResult",
    "KappaResult",
    "KappaWeights",
    "MeasurementError",
    "ProportionalBias",
    "bland_altman",
    "cohen_kappa",
    "fleiss_kappa",
    "icc",
    "icc_name",
    "icc_software",
    "krippendorff_alpha",
    "measurement_error",
    "tolerance_factors",
]
