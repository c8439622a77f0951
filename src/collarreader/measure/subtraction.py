"""Registered comparison of two films: resampling, intensity matching on bone, difference, blend.

Subtraction radiography shows mineral change that side-by-side films hide: the later film is
resampled onto the earlier film's pixel grid through the registration
(:mod:`collarreader.measure.registration`), its grey values are matched to the earlier
film's on the *bone* (a linear map fitted by least squares — exposure, detector and
processing differ between visits, and the bone is what the reader compares), and the
difference ``later − earlier`` is shown: bone gained is bright, bone lost dark.

Pixels are (x=column, y=row), origin at the centre of the top-left pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage import filters

from collarreader.errors import RegistrationError
from collarreader.measure.registration import invert_matrix

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Comparison:
    """The later film on the earlier film's grid, matched on bone.

    Attributes
    ----------
    matched : (rows, cols) float32, the later film resampled onto the earlier film's pixels
        and mapped to its grey values (``gain · later + offset``); 0 outside ``valid``
    valid : (rows, cols) bool, where the later film covers the earlier one
    gain, offset : the linear grey-value map fitted on the bone
    bone_px : number of bone pixels the map was fitted on
    """

    matched: F32
    valid: npt.NDArray[np.bool_]
    gain: float
    offset: float
    bone_px: int


def resample_onto(
    moving: npt.ArrayLike, matrix: npt.ArrayLike, shape: tuple[int, int]
) -> tuple[F32, npt.NDArray[np.bool_]]:
    """The moving film on a grid of ``shape``, through ``matrix`` (moving → that grid's px).

    Returns the resampled values (bilinear, 0 outside) and where they are valid.
    """
    image = np.asarray(moving, dtype=np.float32)
    inverse = invert_matrix(matrix)
    # ndimage works in (row, col): swap the axes of the pixel (x, y) matrix.
    linear = np.array([[inverse[1, 1], inverse[1, 0]], [inverse[0, 1], inverse[0, 0]]])
    offset = np.array([inverse[1, 2], inverse[0, 2]])
    values = ndimage.affine_transform(image, linear, offset, output_shape=shape, order=1, cval=0.0)
    inside = ndimage.affine_transform(
        np.ones(image.shape, dtype=np.float32), linear, offset, output_shape=shape, order=0
    )
    return values.astype(np.float32), inside > 0.5


def bone_mask(fixed: npt.ArrayLike, *, invert: bool = False) -> npt.NDArray[np.bool_]:
    """Pixels of the bone grey-value class: above soft tissue, below metal.

    The film's histogram is split into four classes (air, soft tissue, bone, metal) by
    multi-Otsu thresholds; the third is bone.
    """
    values = np.asarray(fixed, dtype=np.float32)
    if invert:
        values = values.max() + values.min() - values
    sample = values[::2, ::2] if values.size > 400_000 else values
    low, high = filters.threshold_multiotsu(sample, classes=4)[1:]
    return (values > low) & (values <= high)


def compare(
    fixed: npt.ArrayLike,
    moving: npt.ArrayLike,
    matrix: npt.ArrayLike,
    *,
    invert_fixed: bool = False,
) -> Comparison:
    """Resample the later film onto the earlier one and match its grey values on the bone.

    Parameters
    ----------
    fixed : the earlier film, stored values
    moving : the later film, stored values (MONOCHROME1 or not: the linear map's gain takes
        the sign)
    matrix : (2, 3), a moving pixel (x, y, 1) → the fixed pixel (x, y)
    invert_fixed : True when the earlier film is MONOCHROME1 (to find its bone class)

    Raises
    ------
    RegistrationError
        When the films share too little bone to match their grey values.
    """
    reference = np.asarray(fixed, dtype=np.float32)
    resampled, valid = resample_onto(moving, matrix, (reference.shape[0], reference.shape[1]))
    # Edges are left out: a pixel half on metal would tilt the map.
    bone = bone_mask(reference, invert=invert_fixed) & ndimage.binary_erosion(valid, iterations=2)
    count = int(np.count_nonzero(bone))
    if count < 100:
        message = (
            f"The films share only {count} bone pixels: too few to match their grey values "
            "for a difference view."
        )
        raise RegistrationError(message)
    gain, offset = np.polyfit(resampled[bone].astype(np.float64), reference[bone], 1)
    matched = np.where(valid, gain * resampled + offset, 0).astype(np.float32)
    return Comparison(matched, valid, float(gain), float(offset), count)


def difference(fixed: npt.ArrayLike, comparison: Comparison, *, invert_fixed: bool = False) -> F32:
    """``later − earlier`` on the earlier film's grid, with bone gained positive (0 outside)."""
    reference = np.asarray(fixed, dtype=np.float32)
    change = comparison.matched - reference
    if invert_fixed:
        change = -change
    return np.where(comparison.valid, change, 0).astype(np.float32)


def blend(fixed: npt.ArrayLike, comparison: Comparison, later_weight: float) -> F32:
    """``(1 − w) · earlier + w · later`` in the earlier film's grey values (earlier outside)."""
    if not 0.0 <= later_weight <= 1.0:
        message = f"A blend weight is between 0 and 1, not {later_weight}."
        raise ValueError(message)
    reference = np.asarray(fixed, dtype=np.float32)
    mixed = (1.0 - later_weight) * reference + later_weight * comparison.matched
    return np.where(comparison.valid, mixed, reference).astype(np.float32)
