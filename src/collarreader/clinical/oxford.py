"""Oxford Hip Score (OHS) and Oxford Knee Score (OKS): item validation, totals and bands.

Both instruments have twelve items, named here ``q1`` … ``q12`` by their number only: the
questionnaire wording is licensed (Oxford University Innovation) and is deliberately not
part of this code. Each item is answered 0 (worst) to 4 (best); the total is 0–48 (48 best).
The two instruments are scored identically; the instrument is kept so that a hip score is
never mistaken for a knee score.

Scoring rules (Murray et al. 2007, J Bone Joint Surg Br 89:1010–1014):

* missing answers are allowed and kept as entered (``None``);
* with 1 or 2 items missing, each missing item is replaced by the mean of the patient's
  answered items, so the total is ``12 × sum(answered) / n_answered``;
* with more than 2 items missing there is no score.

Rounding (our decision, the paper does not fix it): the imputed item values are not rounded;
the *total* is rounded half up to a whole number, so every total is an integer 0–48 like a
complete questionnaire's, and the bands (which are defined on whole numbers) apply without a
boundary rule. The unrounded value is kept in :attr:`OxfordScore.total_unrounded`.
Because ``12 × S / 11`` and ``12 × S / 10`` never end in exactly .5, the half-up choice
never actually decides a score from this function; it matters only for
:func:`band_for_total` called with an outside value, where 19.5 → 20 → "moderate to severe".

The legacy 12–60 scoring (items 1–5, 1 = best) is converted only when asked:
:func:`from_legacy_items` (new item = 5 − old item) and :func:`legacy_total_to_current`
(new total = 60 − old total).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from collarreader.errors import ClinicalDataError

N_ITEMS = 12
"""Number of items in the Oxford Hip and Knee Scores."""

ITEM_NAMES: tuple[str, ...] = tuple(f"q{number}" for number in range(1, N_ITEMS + 1))
"""Item names, by number only (``q1`` … ``q12``); the wording is licensed."""

ITEM_MIN, ITEM_MAX = 0, 4
"""Range of one item on the current scale (0 = worst, 4 = best)."""

LEGACY_ITEM_MIN, LEGACY_ITEM_MAX = 1, 5
"""Range of one item on the legacy scale (1 = best, 5 = worst)."""

TOTAL_MIN, TOTAL_MAX = 0, N_ITEMS * ITEM_MAX
LEGACY_TOTAL_MIN, LEGACY_TOTAL_MAX = N_ITEMS * LEGACY_ITEM_MIN, N_ITEMS * LEGACY_ITEM_MAX

MAX_MISSING = 2
"""At most this many missing items are imputed; with more there is no score."""


class Instrument(StrEnum):
    """Which Oxford questionnaire: Hip (OHS) or Knee (OKS)."""

    HIP = "hip"
    KNEE = "knee"


class OxfordBand(StrEnum):
    """Interpretation band of a 0–48 total (bounds inclusive, on the whole-number total)."""

    SEVERE = "severe"  # 0–19
    MODERATE_TO_SEVERE = "moderate to severe"  # 20–29
    MILD_TO_MODERATE = "mild to moderate"  # 30–39
    SATISFACTORY = "satisfactory"  # 40–48


# Lower bound of each band, highest first.
_BAND_FLOORS: tuple[tuple[int, OxfordBand], ...] = (
    (40, OxfordBand.SATISFACTORY),
    (30, OxfordBand.MILD_TO_MODERATE),
    (20, OxfordBand.MODERATE_TO_SEVERE),
    (0, OxfordBand.SEVERE),
)


class OxfordScale(StrEnum):
    """The scale a questionnaire's answers were entered on."""

    CURRENT = "0-48"
    """Items 0–4, 4 = best, total 0–48 (Murray et al. 2007)."""
    LEGACY = "legacy-12-60"
    """Items 1–5, 1 = best, total 12–60 (the original 1996/1998 scoring)."""


class Timepoint(StrEnum):
    """Follow-up time point of a questionnaire (the study's 6-month and 1-year visits)."""

    SIX_MONTHS = "6m"
    TWELVE_MONTHS = "12m"


def parse_instrument(value: Instrument | str) -> Instrument:
    """Return the :class:`Instrument` for ``"hip"``/``"knee"`` (any case) or ``"OHS"``/``"OKS"``.

    Raises
    ------
    ClinicalDataError
        For anything else; the message lists the accepted values.
    """
    if isinstance(value, Instrument):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        aliases = {"hip": Instrument.HIP, "ohs": Instrument.HIP, "knee": Instrument.KNEE}
        aliases["oks"] = Instrument.KNEE
        if key in aliases:
            return aliases[key]
    raise ClinicalDataError(
        f"{value!r} is not an Oxford instrument; use 'hip' (Oxford Hip Score) or "
        "'knee' (Oxford Knee Score)."
    )


def parse_timepoint(value: Timepoint | str) -> Timepoint:
    """Return the :class:`Timepoint` for ``"6m"`` or ``"12m"`` (any case, spaces ignored).

    Raises
    ------
    ClinicalDataError
        For anything else.
    """
    if isinstance(value, Timepoint):
        return value
    if isinstance(value, str):
        key = "".join(value.split()).lower()
        for member in Timepoint:
            if key == member.value:
                return member
    raise ClinicalDataError(f"{value!r} is not a time point; use '6m' or '12m'.")


def check_item(value: object, *, scale: OxfordScale = OxfordScale.CURRENT) -> int | None:
    """Validate one item answer and return it as an ``int``, or ``None`` when missing.

    Parameters
    ----------
    value : the answer. ``None`` and a float NaN (as pandas writes a blank cell) mean
        missing. An integer, or a float with a whole value (``3.0``), is accepted.
    scale : the scale the answer is on: 0–4 (current) or 1–5 (legacy).

    Raises
    ------
    ClinicalDataError
        For a bool, text, a fraction such as 2.5, infinity, or a value outside the scale's
        range. The message is the reason only (no item name); callers prefix the item.
    """
    if scale is OxfordScale.CURRENT:
        low, high, meaning = ITEM_MIN, ITEM_MAX, "0 = worst, 4 = best"
    else:
        low, high, meaning = LEGACY_ITEM_MIN, LEGACY_ITEM_MAX, "legacy scale, 1 = best, 5 = worst"
    if value is None:
        return None
    # bool is an Integral; a yes/no slipping into an item column is a data error, not a 0/1.
    if isinstance(value, bool):
        raise ClinicalDataError(f"{value!r} is a yes/no value, not an item answer ({meaning}).")
    if isinstance(value, str | bytes):
        raise ClinicalDataError(
            f"{value!r} is text, not a number; convert answers to numbers first "
            "(the CSV importer does this)."
        )
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real):
        real = float(value)
        if math.isnan(real):
            return None
        if not math.isfinite(real) or not real.is_integer():
            raise ClinicalDataError(
                f"{value!r} is not a whole number; each answer is one of "
                f"{', '.join(str(n) for n in range(low, high + 1))}."
            )
        number = int(real)
    else:
        raise ClinicalDataError(
            f"{value!r} ({type(value).__name__}) is not a number; give an integer "
            f"{low}–{high} or None for a missing answer."
        )
    if not low <= number <= high:
        raise ClinicalDataError(f"{number} is outside {low}–{high} ({meaning}).")
    return number


def _check_items(
    items: Iterable[object], *, scale: OxfordScale, what: str
) -> tuple[int | None, ...]:
    """Validate twelve answers, raising one error that lists every bad item."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise ClinicalDataError(
            f"{what}: items must be a list of {N_ITEMS} answers (q1 … q12), "
            f"not {type(items).__name__}."
        )
    values = tuple(items)
    if len(values) != N_ITEMS:
        raise ClinicalDataError(
            f"{what}: needs {N_ITEMS} answers (q1 … q12), got {len(values)}; "
            "use None for a missing answer rather than leaving it out."
        )
    checked: list[int | None] = []
    problems: list[str] = []
    for name, value in zip(ITEM_NAMES, values, strict=True):
        try:
            checked.append(check_item(value, scale=scale))
        except ClinicalDataError as error:
            problems.append(f"{name}: {str(error).rstrip('.')}")
    if problems:
        hint = ""
        answered = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if (
            scale is OxfordScale.CURRENT
            and answered
            and all(LEGACY_ITEM_MIN <= v <= LEGACY_ITEM_MAX for v in answered)
            and LEGACY_ITEM_MAX in answered
        ):
            hint = (
                " If these answers use the legacy 12–60 scoring (1 = best, 5 = worst), "
                "convert them with from_legacy_items() first."
            )
        raise ClinicalDataError(f"{what}: " + "; ".join(problems) + "." + hint)
    return tuple(checked)


def _check_total(total: float, low: int, high: int, what: str, advice: str = "") -> None:
    """Refuse a total that is not a finite real number within ``low``–``high``."""
    if (
        isinstance(total, bool)
        or not isinstance(total, numbers.Real)
        or not math.isfinite(float(total))
    ):
        raise ClinicalDataError(f"{what} {total!r} is not a number.")
    if not low <= total <= high:
        raise ClinicalDataError(f"{what} {total} is outside {low}–{high}{advice}.")


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def band_for_total(total: float) -> OxfordBand:
    """Return the interpretation band of a 0–48 total.

    Bands are inclusive on whole numbers: 0–19 severe, 20–29 moderate to severe, 30–39 mild
    to moderate, 40–48 satisfactory. A non-integer total is first rounded half up, the same
    rule :func:`score` applies (19.49 → 19 → severe; 19.5 → 20 → moderate to severe).

    Raises
    ------
    ClinicalDataError
        When ``total`` is not a finite number within 0–48.
    """
    _check_total(total, TOTAL_MIN, TOTAL_MAX, "Oxford total")
    whole = _round_half_up(Fraction(float(total)))
    for floor, band in _BAND_FLOORS:
        if whole >= floor:
            return band
    raise AssertionError("unreachable: the lowest band starts at 0")  # pragma: no cover


@dataclass(frozen=True)
class OxfordScore:
    """The scored questionnaire.

    Attributes
    ----------
    instrument : hip (OHS) or knee (OKS)
    items : the twelve answers as validated, 0–4 or None (missing); never imputed
    total : whole-number total 0–48 (imputed and rounded half up when 1–2 items are
        missing), or None with more than 2 missing
    total_unrounded : the exact total before rounding (equal to ``total`` when nothing
        was imputed), or None
    band : interpretation band of ``total``, or None
    n_missing : number of missing items
    imputed : True when missing items were replaced by the mean of the answered ones
    """

    instrument: Instrument
    items: tuple[int | None, ...]
    total: int | None
    total_unrounded: float | None
    band: OxfordBand | None
    n_missing: int
    imputed: bool

    @property
    def scored(self) -> bool:
        """True when a total could be computed (at most 2 items missing)."""
        return self.total is not None


def score(items: Iterable[object], instrument: Instrument | str) -> OxfordScore:
    """Score an Oxford Hip or Knee questionnaire on the current 0–48 scale.

    Parameters
    ----------
    items : twelve answers in item order q1 … q12, each 0–4 (4 = best) or None for a
        missing answer (a float NaN also counts as missing; whole floats such as 3.0 are
        accepted).
    instrument : ``"hip"`` or ``"knee"`` (or an :class:`Instrument`).

    Returns
    -------
    OxfordScore
        With 1–2 missing items the total is ``12 × sum(answered) / n_answered`` rounded half
        up to a whole number (``imputed`` True); with more than 2 missing, ``total`` and
        ``band`` are None.

    Raises
    ------
    ClinicalDataError
        For an unknown instrument, a list that is not 12 long, or any invalid answer (all
        bad items are listed in one message).
    """
    try:
        parsed_instrument = parse_instrument(instrument)
    except ClinicalDataError as error:
        raise ClinicalDataError(f"Oxford score: {error}") from None  # reason ends with "."
    checked = _check_items(
        items, scale=OxfordScale.CURRENT, what=f"Oxford {parsed_instrument.value} score"
    )
    answered = [value for value in checked if value is not None]
    n_missing = N_ITEMS - len(answered)
    if n_missing > MAX_MISSING:
        return OxfordScore(
            instrument=parsed_instrument,
            items=checked,
            total=None,
            total_unrounded=None,
            band=None,
            n_missing=n_missing,
            imputed=False,
        )
    # Exact arithmetic: the imputed total is a multiple of 1/11 or 1/5, never a float guess.
    exact = Fraction(sum(answered) * N_ITEMS, len(answered))
    total = _round_half_up(exact)
    return OxfordScore(
        instrument=parsed_instrument,
        items=checked,
        total=total,
        total_unrounded=float(exact),
        band=band_for_total(total),
        n_missing=n_missing,
        imputed=n_missing > 0,
    )


def from_legacy_items(items: Iterable[object]) -> tuple[int | None, ...]:
    """Convert twelve legacy answers (1–5, 1 = best) to the current scale (0–4, 4 = best).

    Each answered item becomes ``5 − old``; a missing answer (None or NaN) stays None.

    Raises
    ------
    ClinicalDataError
        When the list is not 12 long or an answer is not a whole number 1–5.
    """
    checked = _check_items(items, scale=OxfordScale.LEGACY, what="legacy Oxford answers")
    return tuple(None if value is None else LEGACY_ITEM_MAX - value for value in checked)


def legacy_total_to_current(total: float) -> int | float:
    """Convert a legacy 12–60 total (12 = best) to the current 0–48 scale: ``60 − total``.

    A whole-number total (int, or a float such as 27.0) gives an int; a non-integer legacy
    total (from an earlier imputation) gives a float.

    Raises
    ------
    ClinicalDataError
        When ``total`` is not a finite number within 12–60.
    """
    _check_total(
        total,
        LEGACY_TOTAL_MIN,
        LEGACY_TOTAL_MAX,
        "legacy Oxford total",
        "; a total of 0–48 is already on the current scale and must not be converted",
    )
    converted = LEGACY_TOTAL_MAX - total
    if isinstance(converted, numbers.Integral) or float(converted).is_integer():
        return int(converted)
    return float(converted)


@dataclass(frozen=True)
class OxfordRecord:
    """One completed (or partly completed) questionnaire of one patient at one time point.

    The answers are kept exactly as entered, on the scale they were entered on;
    :attr:`items` gives them on the current 0–4 scale (converted when ``scale`` is legacy).

    Attributes
    ----------
    patient : the patient's study ID, as in the manifest and key file
    instrument : hip (OHS) or knee (OKS)
    timepoint : 6m or 12m
    date : the date the questionnaire was completed
    items_as_entered : the twelve answers as entered (None = missing), on ``scale``
    source : where the answers came from (e.g. "paper", "phone"); may be empty
    scale : the scale of ``items_as_entered``
    row : spreadsheet row the record was read from (header = row 1), for messages only;
        not part of equality, the natural key or the content hash
    """

    patient: str
    instrument: Instrument
    timepoint: Timepoint
    date: dt.date
    items_as_entered: tuple[int | None, ...]
    source: str = ""
    scale: OxfordScale = OxfordScale.CURRENT
    row: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not isinstance(self.patient, str) or not self.patient.strip():
            problems.append("patient: the study ID is empty")
        elif self.patient != self.patient.strip():
            problems.append(f"patient: {self.patient!r} has leading or trailing spaces")
        if not isinstance(self.instrument, Instrument):
            problems.append(f"instrument: {self.instrument!r} is not an Instrument")
        if not isinstance(self.timepoint, Timepoint):
            problems.append(f"timepoint: {self.timepoint!r} is not a Timepoint")
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            problems.append(f"date: {self.date!r} is not a date")
        if not isinstance(self.source, str):
            problems.append(f"source: {self.source!r} is not text")
        if not isinstance(self.scale, OxfordScale):
            problems.append(f"scale: {self.scale!r} is not an OxfordScale")
        elif not isinstance(self.items_as_entered, tuple) or any(
            value is not None and (isinstance(value, bool) or not isinstance(value, int))
            for value in self.items_as_entered
        ):
            problems.append("items_as_entered: must be a tuple of int or None")
        else:
            try:
                _check_items(self.items_as_entered, scale=self.scale, what="items_as_entered")
            except ClinicalDataError as error:
                problems.append(str(error).rstrip("."))
        if problems:
            raise ClinicalDataError("Oxford record: " + "; ".join(problems) + ".")

    @property
    def items(self) -> tuple[int | None, ...]:
        """The answers on the current 0–4 scale (legacy answers converted, 5 − old)."""
        if self.scale is OxfordScale.LEGACY:
            return from_legacy_items(self.items_as_entered)
        return self.items_as_entered

    @property
    def score(self) -> OxfordScore:
        """The scored questionnaire (see :func:`score`)."""
        return score(self.items, self.instrument)

    @property
    def natural_key(self) -> tuple[str, str, str]:
        """``(patient, instrument, timepoint)``: one questionnaire per patient, joint and visit."""
        return (self.patient, self.instrument.value, self.timepoint.value)

    @property
    def content_sha256(self) -> str:
        """SHA-256 (hex) of everything the record says, independent of its row number.

        Two imports of the same data give the same hash; a changed answer, date, source or
        scale gives a different one. The canonical form is versioned (``"kind"``).
        """
        canonical = {
            "kind": "collarreader-oxford-v1",
            "patient": self.patient,
            "instrument": self.instrument.value,
            "timepoint": self.timepoint.value,
            "date": self.date.isoformat(),
            "scale": self.scale.value,
            "items_as_entered": list(self.items_as_entered),
            "source": self.source,
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
