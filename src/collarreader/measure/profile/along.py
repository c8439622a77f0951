"""The gap measured, or scanned, along a traced line.

Part of :mod:`collarreader.measure.profile` (see its docstring for the method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from collarreader.measure.profile.gap import measure_gap
from collarreader.measure.profile.results import DEFAULT_MIN_CNR, GapMeasurement, GapMethod, GapScan
from collarreader.measure.profile.sampling import sample_profiles


def measure_gap_along(
    image: npt.ArrayLike,
    p0_px: Sequence[float] | npt.ArrayLike,
    p1_px: Sequence[float] | npt.ArrayLike,
    *,
    half_length_px: float,
    search_px: tuple[float, float] | None = None,
    step_px: float = 0.25,
    spacing_px: float = 1.0,
    inset_px: float = 0.0,
    invert: bool = False,
    method: GapMethod | str = GapMethod.FIT,
    sigma_px: float | None = None,
    min_cnr: float = DEFAULT_MIN_CNR,
) -> GapMeasurement | None:
    """Average the profiles across a segment and measure the dark band's width.

    The segment is the interface as drawn (e.g. the collar's edge over the stretch where
    the radiolucent line runs); see :func:`sample_profiles` and :func:`measure_gap` for the
    parameters. Returns None when no band is found.
    """
    stack = sample_profiles(
        image,
        p0_px,
        p1_px,
        half_length_px=half_length_px,
        step_px=step_px,
        spacing_px=spacing_px,
        inset_px=inset_px,
        invert=invert,
    )
    return measure_gap(
        stack.offsets_px,
        stack.mean(),
        search_px=search_px,
        noise=stack.noise(),
        method=method,
        sigma_px=sigma_px,
        min_cnr=min_cnr,
        normal_px=(float(stack.normal_px[0]), float(stack.normal_px[1])),
    )


def scan_gap_along(
    image: npt.ArrayLike,
    p0_px: Sequence[float] | npt.ArrayLike,
    p1_px: Sequence[float] | npt.ArrayLike,
    *,
    half_length_px: float,
    window_px: float = 8.0,
    stride_px: float = 2.0,
    search_px: tuple[float, float] | None = None,
    step_px: float = 0.25,
    invert: bool = False,
    method: GapMethod | str = GapMethod.HALF_MAX,
    min_cnr: float = DEFAULT_MIN_CNR,
) -> GapScan:
    """Measure the band in successive stretches of ``window_px`` along a segment.

    Where bone bridges onto the collar there is no band; the fraction of stretches without
    one estimates the bridging extent of the interface.
    """
    stack = sample_profiles(
        image,
        p0_px,
        p1_px,
        half_length_px=half_length_px,
        step_px=step_px,
        spacing_px=1.0,
        invert=invert,
    )
    length = float(np.hypot(*(np.asarray(p1_px, float) - np.asarray(p0_px, float))))
    per_window = max(1, round(window_px))
    noise_all = stack.noise() * math.sqrt(stack.values.shape[0] / per_window)
    centres: list[float] = []
    widths: list[float] = []
    start = 0.0
    while start + window_px <= length + 1e-9 or not centres:
        chosen = (stack.along_px >= start) & (stack.along_px < start + window_px)
        if np.any(chosen):
            profile = stack.values[chosen].mean(axis=0)
            found = measure_gap(
                stack.offsets_px,
                profile,
                search_px=search_px,
                noise=noise_all * math.sqrt(per_window / int(chosen.sum())),
                method=method,
                min_cnr=min_cnr,
                normal_px=(float(stack.normal_px[0]), float(stack.normal_px[1])),
            )
            centres.append(start + 0.5 * window_px)
            widths.append(math.nan if found is None else found.width_px)
        start += stride_px
        if start + window_px > length + 1e-9:
            break
    return GapScan(
        along_px=np.asarray(centres, dtype=np.float64),
        widths_px=np.asarray(widths, dtype=np.float64),
        length_px=length,
    )
