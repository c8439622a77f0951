"""The intraclass correlation coefficient (ICC), six forms (McGraw & Wong 1996)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collarreader.analysis.agreement.base import (
    ConfidenceInterval,
    FloatArray,
    IccForm,
    IccResult,
    _choice,
    _finite_or_none,
    _join,
    _numeric_matrix,
    _quiet,
)
from collarreader.errors import AnalysisError

# ---------------------------------------------------------------- ICC

_PINGOUIN_TYPE = {
    IccForm.ONE_WAY_SINGLE: "ICC(1,1)",
    IccForm.AGREEMENT_SINGLE: "ICC(A,1)",
    IccForm.CONSISTENCY_SINGLE: "ICC(C,1)",
    IccForm.ONE_WAY_AVERAGE: "ICC(1,k)",
    IccForm.AGREEMENT_AVERAGE: "ICC(A,k)",
    IccForm.CONSISTENCY_AVERAGE: "ICC(C,k)",
}

#: Fewest ratings (targets × raters) for an ICC: pingouin's two-way ANOVA refuses fewer.
_MIN_ICC_RATINGS = 5

# The closed-form path below is used only when the target and residual sums of squares are
# both at least this fraction of the total: then the rounding of the subtraction that gives
# the residual (≈ 1e-16 of the total) moves F, the ICC and its bounds by far less than 1e-9.
# Anything closer to exact agreement (or to no between-target variance) goes to pingouin.
_ICC_CONDITION = 1e-6
_CI_LEVEL = 0.95
# Distance from the Spearman–Brown pole below which the average-rater bounds go to pingouin.
_SPEARMAN_BROWN_POLE = 1e-2


@dataclass(frozen=True)
class _IccFigures:
    """One row of pingouin's ``intraclass_corr`` table, as plain floats."""

    value: float
    f_value: float
    df1: int
    df2: int
    p_value: float
    low: float
    high: float


@contextmanager
def _pingouin_full_precision() -> Iterator[None]:
    # pingouin rounds its CI95 column to 2 decimals by default (pingouin.options); the
    # report needs full precision, so switch the documented options off for the call.
    import pingouin  # type: ignore[import-untyped]

    saved = dict(pingouin.options)
    for key in [key for key in pingouin.options if str(key).startswith("round.")]:
        del pingouin.options[key]
    pingouin.options["round"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def _icc_pingouin(used: FloatArray, form: IccForm) -> _IccFigures:
    """The reference path: :func:`pingouin.intraclass_corr` on complete data."""
    import pandas as pd  # type: ignore[import-untyped]
    import pingouin

    n, k = used.shape
    long = pd.DataFrame(
        {
            "target": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "rating": used.ravel(),
        }
    )
    with _quiet(), _pingouin_full_precision():
        table = pingouin.intraclass_corr(
            data=long, targets="target", raters="rater", ratings="rating"
        ).set_index("Type")
    row = table.loc[_PINGOUIN_TYPE[form]]
    low, high = (float(bound) for bound in row["CI95"])
    return _IccFigures(
        value=float(row["ICC"]),
        f_value=float(row["F"]),
        df1=int(row["df1"]),
        df2=int(row["df2"]),
        p_value=float(row["pval"]),
        low=low,
        high=high,
    )


def _icc_closed_form(used: FloatArray, form: IccForm) -> _IccFigures | None:
    """The same figures as :func:`_icc_pingouin`, from the mean squares in closed form.

    Mean squares of the two-way ANOVA without replication (Shrout & Fleiss 1979, Table 2:
    BMS, JMS, EMS and the one-way WMS), the ICC formulas of McGraw & Wong (1996) Table 4, and
    the F-based 95 % intervals of Shrout & Fleiss (1979) eqs. 6–8 and McGraw & Wong (1996)
    Table 7, with Satterthwaite's degrees of freedom for the absolute-agreement forms — the
    arithmetic of ``pingouin.intraclass_corr`` (pingouin 0.7, ``reliability.py``) step for
    step, with :mod:`scipy.stats` for the F distribution. Returns None when the residual or
    between-target sum of squares is too small a fraction of the total for this arithmetic
    to match pingouin to 1e-9 (see ``_ICC_CONDITION``); the caller then uses pingouin.
    """
    from scipy import stats

    n, k = used.shape
    grand = float(used.mean())
    ss_total = float(((used - grand) ** 2).sum())
    ss_targets = k * float(((used.mean(axis=1) - grand) ** 2).sum())
    ss_raters = n * float(((used.mean(axis=0) - grand) ** 2).sum())
    ss_error = ss_total - (ss_targets + ss_raters)
    floor = _ICC_CONDITION * ss_total
    if not (ss_total > 0 and ss_targets > floor and ss_error > floor):
        return None
    df1 = n - 1
    df_one_way = n * (k - 1)
    df_two_way = (n - 1) * (k - 1)
    msb = ss_targets / df1  # between targets (BMS)
    msj = ss_raters / (k - 1)  # between raters (JMS)
    mse = ss_error / df_two_way  # residual (EMS)
    msw = (ss_raters + ss_error) / df_one_way  # within targets, one-way (WMS)
    tail = 1.0 - (1.0 - _CI_LEVEL) / 2.0
    f_dist = stats.f
    with _quiet():
        one_way = form in (IccForm.ONE_WAY_SINGLE, IccForm.ONE_WAY_AVERAGE)
        if one_way or form in (IccForm.CONSISTENCY_SINGLE, IccForm.CONSISTENCY_AVERAGE):
            # ICC(1) and ICC(C) are the same F test of the between-target mean square, against
            # the within-target (one-way) or the residual (two-way) mean square.
            ms_noise, df2 = (msw, df_one_way) if one_way else (mse, df_two_way)
            f_value = msb / ms_noise
            lower_f = f_value / float(f_dist.ppf(tail, df1, df2))
            upper_f = f_value * float(f_dist.ppf(tail, df2, df1))
            if form in (IccForm.ONE_WAY_SINGLE, IccForm.CONSISTENCY_SINGLE):
                value = (msb - ms_noise) / (msb + (k - 1) * ms_noise)
                low = (lower_f - 1) / (lower_f + (k - 1))
                high = (upper_f - 1) / (upper_f + (k - 1))
            else:
                value = (msb - ms_noise) / msb
                low, high = 1 - 1 / lower_f, 1 - 1 / upper_f
        else:
            f_value = msb / mse
            df2 = df_two_way
            single = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
            # McGraw & Wong (1996) Table 7, case 2A: Satterthwaite's degrees of freedom.
            f_raters = msj / mse
            v_num = (
                df_two_way * (k * single * f_raters + n * (1 + (k - 1) * single) - k * single) ** 2
            )
            v_den = (
                df1 * k**2 * single**2 * f_raters**2
                + (n * (1 + (k - 1) * single) - k * single) ** 2
            )
            v = v_num / v_den
            upper_crit = float(f_dist.ppf(tail, n - 1, v))
            lower_crit = float(f_dist.ppf(tail, v, n - 1))
            spread = k * msj + (k * n - k - n) * mse
            low = n * (msb - upper_crit * mse) / (upper_crit * spread + n * msb)
            high = n * (lower_crit * msb - mse) / (spread + n * lower_crit * msb)
            if form is IccForm.AGREEMENT_SINGLE:
                value = single
            else:
                value = (msb - mse) / (msb + (msj - mse) / n)
                # Near −1/(k − 1) a single-rater bound is close to the pole of the Spearman–
                # Brown step, which multiplies its rounding error by k/(1 + (k − 1)·bound)²
                # (and at the pole its sign is the last bit's): such data — found by
                # hypothesis, only with a strongly negative ICC — go to pingouin.
                if min(abs(1 + low * (k - 1)), abs(1 + high * (k - 1))) < _SPEARMAN_BROWN_POLE:
                    return None
                low, high = low * k / (1 + low * (k - 1)), high * k / (1 + high * (k - 1))
        p_value = float(f_dist.sf(f_value, df1, df2))
    return _IccFigures(
        value=float(value),
        f_value=float(f_value),
        df1=df1,
        df2=df2,
        p_value=p_value,
        low=float(low),
        high=float(high),
    )


def icc(ratings: npt.ArrayLike, form: IccForm | str = IccForm.AGREEMENT_SINGLE) -> IccResult:
    """Intraclass correlation coefficient with its 95 % confidence interval.

    The figures of :func:`pingouin.intraclass_corr` (two-way ANOVA mean squares; the F-based
    intervals of Shrout & Fleiss 1979 / McGraw & Wong 1996, with Satterthwaite's degrees of
    freedom for the absolute-agreement forms — checked against R ``psych::ICC`` in pingouin's
    own tests and, here, against Shrout & Fleiss's worked example). For speed they are
    computed in closed form from the complete-case matrix, the same formulas in the same order
    (see the module docstring; proven equal to pingouin to 1e-9 in the tests); data too close
    to exact agreement for that arithmetic go through pingouin itself.

    Parameters
    ----------
    ratings : (n_targets, k_raters) array-like of numbers
        One row per target (case), one column per rater; NaN marks a missing rating. Targets
        with any missing rating are dropped (listwise, as the ANOVA needs balanced data) and
        counted in ``n_dropped``.
    form : ``"1,1"``, ``"A,1"`` (default), ``"C,1"``, ``"1,k"``, ``"A,k"`` or ``"C,k"``
        McGraw & Wong's names; see :class:`IccForm` for Shrout & Fleiss's.

    Returns
    -------
    IccResult
        ``value`` is None when the ICC is 0/0 — every rating identical, or (consistency forms)
        no variation left once rater means are removed. ``ci`` is None when the residual mean
        square is zero (raters agree exactly up to a shift), because the F ratio is then
        infinite.

    Raises
    ------
    AnalysisError
        If the shape is wrong, ``form`` is unknown, fewer than 2 raters are given, fewer than
        2 targets remain after dropping missing ratings, or fewer than
        5 ratings remain (e.g. 2 targets × 2 raters).
    """
    chosen: IccForm = _choice(IccForm, str(form), "ICC form")
    matrix = _numeric_matrix(ratings, "ICC ratings", "targets × raters")
    n_targets, k = matrix.shape
    if k < 2:
        raise AnalysisError(
            f"ICC needs at least 2 raters (columns); got {k}. Pass ratings as targets × raters."
        )
    complete = ~np.isnan(matrix).any(axis=1)
    used = matrix[complete]
    n = used.shape[0]
    n_dropped = n_targets - n
    if n == 0:
        raise AnalysisError(
            f"ICC: all {n_targets} targets have a missing rating; no complete row to analyse."
        )
    if n < 2:
        raise AnalysisError(
            f"ICC needs at least 2 targets rated by every rater; {n} remain after dropping "
            f"{n_dropped} with missing ratings."
        )
    one_way = chosen in (IccForm.ONE_WAY_SINGLE, IccForm.ONE_WAY_AVERAGE)
    df1 = n - 1
    df2 = n * (k - 1) if one_way else (n - 1) * (k - 1)
    if np.ptp(used) == 0:
        return IccResult(
            value=None,
            ci=None,
            n=n,
            k=k,
            form=chosen,
            f_value=None,
            df1=df1,
            df2=df2,
            p_value=None,
            n_dropped=n_dropped,
            note="ICC undefined: every rating is identical, so there is no variance to share.",
        )
    if n * k < _MIN_ICC_RATINGS:
        raise AnalysisError(
            f"ICC needs at least {_MIN_ICC_RATINGS} ratings; {n} complete targets × {k} raters "
            "is too few. Add targets (cases) rated by every rater."
        )

    figures = _icc_closed_form(used, chosen) or _icc_pingouin(used, chosen)
    value = _finite_or_none(figures.value)
    low, high = figures.low, figures.high
    notes: list[str] = []
    ci: ConfidenceInterval | None = None
    if value is None:
        notes.append(
            "ICC undefined (0/0): no variation between targets or residual variation left "
            "for this form once rater means are removed."
        )
    elif math.isfinite(low) and math.isfinite(high):
        ci = (low, high)
    elif not math.isfinite(figures.f_value):
        notes.append(
            "No confidence interval: the raters agree exactly (up to a constant shift for the "
            "two-way forms), so the residual mean square is zero, the F ratio infinite and "
            "the F-based interval degenerate."
        )
    else:
        notes.append("No confidence interval: the F-based interval is not defined here.")
    return IccResult(
        value=value,
        ci=ci,
        n=n,
        k=k,
        form=chosen,
        f_value=_finite_or_none(figures.f_value),
        df1=figures.df1,
        df2=figures.df2,
        p_value=_finite_or_none(figures.p_value),
        n_dropped=n_dropped,
        note=_join(*notes),
    )


# ---------------------------------------------------------------- names a reviewer checks

_ICC_NAMES: dict[IccForm, tuple[str, str, str, str]] = {
    # form: (model, type, definition, Shrout & Fleiss 1979 name)
    IccForm.ONE_WAY_SINGLE: ("one-way random effects", "absolute agreement", "single rater",
                             "ICC(1,1)"),
    IccForm.AGREEMENT_SINGLE: ("two-way random effects", "absolute agreement", "single rater",
                               "ICC(2,1)"),
    IccForm.CONSISTENCY_SINGLE: ("two-way mixed effects", "consistency", "single rater",
                                 "ICC(3,1)"),
    IccForm.ONE_WAY_AVERAGE: ("one-way random effects", "absolute agreement",
                              "mean of k raters", "ICC(1,k)"),
    IccForm.AGREEMENT_AVERAGE: ("two-way random effects", "absolute agreement",
                                "mean of k raters", "ICC(2,k)"),
    IccForm.CONSISTENCY_AVERAGE: ("two-way mixed effects", "consistency", "mean of k raters",
                                  "ICC(3,k)"),
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def icc_software() -> str:
    """The software that computes the ICC, with versions, as a methods section cites it."""
    from importlib import metadata

    from collarreader import __version__

    return (
        f"collarreader {__version__} (McGraw & Wong's closed forms, proven equal to pingouin "
        f"{metadata.version('pingouin')} intraclass_corr, which computes ill-conditioned cases)"
    )


def icc_name(form: IccForm | str = IccForm.AGREEMENT_SINGLE) -> str:
    """The ICC named by model, type and definition in both notations (Koo & Li 2016, Table 1).

    Examples
    --------
    >>> icc_name("A,1")
    'two-way random effects, absolute agreement, single rater: McGraw & Wong ICC(A,1) = Shrout & Fleiss ICC(2,1)'
    """  # noqa: E501
    chosen: IccForm = _choice(IccForm, form, "ICC form")
    model, kind, definition, shrout_fleiss = _ICC_NAMES[chosen]
    return (
        f"{model}, {kind}, {definition}: McGraw & Wong ICC({chosen.value}) = "
        f"Shrout & Fleiss {shrout_fleiss}"
    )
