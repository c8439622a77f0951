"""Bridging extent: how much of a collar–bone interface bone has bridged, in percent.

The reader draws the interface (one or more polylines) and, along it, the stretches where
bone bridges onto the collar. Lengths are in one unit for both (mm when every line has a
calibrated or header spacing, px otherwise); the extent is the bridged share of the interface.
"""

from __future__ import annotations

from collections.abc import Iterable


def bridging_extent_pct(
    interface_lengths: Iterable[float], bridged_lengths: Iterable[float]
) -> float | None:
    """Bridged length as a percentage of the interface length, capped at 100.

    Parameters
    ----------
    interface_lengths : lengths of the interface lines drawn (mm, or px for all)
    bridged_lengths : lengths of the bridged segments drawn, in the same unit

    Returns
    -------
    float or None
        None when there is no interface length to relate the bridged length to.
    """
    interface = sum(interface_lengths)
    if interface <= 0:
        return None
    return min(100.0, 100.0 * sum(bridged_lengths) / interface)
