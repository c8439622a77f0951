"""DICOM to a radiograph the viewer can trust: decode, Modality LUT, window, spacing, cache.

Public API::

    from collarreader.imaging import load_radiograph, Radiograph, Spacing, SpacingSource

The names are imported on first use (PEP 562): the reader's launch needs
:class:`Radiograph` and :class:`Spacing` at once, but pydicom (≈0.7 s to import on the
2-core reference machine under load) only once the main process itself decodes a file —
the first case is decoded in worker processes (:mod:`collarreader.ui.preload`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "CacheStats": "cache",
    "RadiographCache": "cache",
    "load_radiograph": "decode",
    "modality_lut": "decode",
    "plugin_order": "decode",
    "describe": "describe",
    "format_description": "describe",
    "DicomWarning": "radiograph",
    "Radiograph": "radiograph",
    "Spacing": "radiograph",
    "SpacingSource": "radiograph",
    "Window": "radiograph",
    "spacing_from_dataset": "spacing",
    "data_window": "window",
    "window_from_dataset": "window",
}
"""Public name → the module of this package that defines it."""

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (and keep the name here)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
