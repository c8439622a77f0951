"""DICOM to a radiograph the viewer can trust: decode, Modality LUT, window, spacing, cache.

Public API::

    from collarreader.imaging import load_radiograph, Radiograph, Spacing, SpacingSource
"""

from collarreader.imaging.cache import CacheStats, RadiographCache
from collarreader.imaging.decode import load_radiograph, modality_lut, plugin_order
from collarreader.imaging.describe import describe, format_description
from collarreader.imaging.radiograph import (
    DicomWarning,
    Radiograph,
    Spacing,
    SpacingSource,
    Window,
)
from collarreader.imaging.spacing import spacing_from_dataset
from collarreader.imaging.window import data_window, window_from_dataset

__all__ = [
    "CacheStats",
    "DicomWarning",
    "Radiograph",
    "RadiographCache",
    "Spacing",
    "SpacingSource",
    "Window",
    "data_window",
    "describe",
    "format_description",
    "load_radiograph",
    "modality_lut",
    "plugin_order",
    "spacing_from_dataset",
    "window_from_dataset",
]
