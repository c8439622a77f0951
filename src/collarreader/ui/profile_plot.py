"""The profile a semi-automatic RLL width was measured on, shown beside the caliper.

After W the reader sees what was measured: the averaged, metal-edge-aligned profile, the
fitted blurred-band model and the two edges (metal at 0, bone at the width), with the width
and its uncertainty — to accept it, or redo it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from collarreader.model import Annotation


class ProfilePlot(QtWidgets.QFrame):
    """A small floating plot of an annotation's stored profile (hidden when there is none).

    Parameters
    ----------
    parent : the widget it floats over (placed in its top-right corner)
    """

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("profilePlot")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.title = QtWidgets.QLabel(self)
        layout.addWidget(self.title)
        self.plot = pg.PlotWidget(self)
        self.plot.setMinimumSize(260, 150)
        self.plot.showGrid(x=True, y=False, alpha=0.3)
        layout.addWidget(self.plot)
        self.measured = self.plot.plot([], [], pen=None, symbol="o", symbolSize=3)
        self.model = self.plot.plot([], [], pen=pg.mkPen("#ffcc00", width=2))
        self.metal_edge = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#66ccff"))
        self.bone_edge = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#66ccff"))
        self.plot.addItem(self.metal_edge)
        self.plot.addItem(self.bone_edge)
        self.annotation_id: str | None = None
        self.hide()

    def show_annotation(self, annotation: Annotation | None) -> bool:
        """Show ``annotation``'s profile; hide when it has none. True when shown."""
        profile: Mapping[str, Any] | None = None if annotation is None else annotation.profile
        if annotation is None or not profile:
            self.annotation_id = None
            self.hide()
            return False
        self.annotation_id = annotation.id
        unit = str(profile.get("unit", "px"))
        offsets = [float(v) for v in profile["offsets"]]
        self.measured.setData(offsets, [float(v) for v in profile["values"]])
        self.model.setData(offsets, [float(v) for v in profile["model"]])
        width = float(profile["width"])
        self.metal_edge.setValue(0.0)
        self.bone_edge.setValue(width)
        self.plot.setLabel("bottom", f"from the metal edge ({unit})")
        uncertainty = annotation.width_uncertainty_mm
        spread = f" ± {uncertainty:.2f}" if uncertainty is not None else ""
        self.title.setText(
            f"RLL width {width:.2f}{spread} {unit} ({annotation.method}): metal | band | bone"
        )
        self._place()
        self.show()
        self.raise_()
        return True

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        self.adjustSize()
        margin = 8
        self.move(QtCore.QPoint(max(0, parent.width() - self.width() - margin), margin))
