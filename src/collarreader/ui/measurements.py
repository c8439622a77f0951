"""The measurement list: every annotation of the case with its value in mm and its calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6 import QtCore, QtWidgets

from collarreader.imaging import SpacingSource
from collarreader.model import Annotation, Calibration
from collarreader.ui.overlays import KIND_LABELS, value_text

_HEADERS = ("Measurement", "Where", "Value", "Calibration")

SHORT_SOURCES: dict[str, str] = {
    "pixel_spacing": "Pixel Spacing",
    "imager_magnified": "Imager ÷ magn.",
    "imager_detector": "detector plane!",
    "manual": "manual",
}
"""Calibration sources as the narrow list column shows them (the tooltip has the full text)."""


METHOD_LABELS: dict[str, str] = {"ball_fit": "ball fit", "snapped_caliper": "snapped caliper"}
"""How a fitted calibration was placed, in the reader's words (hand lines keep ``line`` and
``ball``, the words of the known-size dialog)."""


def method_label(calibration: Calibration) -> str:
    """How a calibration was placed: ``ball fit (residual 0.06 px)``, ``line``, ``ball``."""
    label = METHOD_LABELS.get(str(calibration.method), str(calibration.method))
    if calibration.residual_px is not None:
        label += f" (residual {calibration.residual_px:.2f} px)"
    return label


def calibration_label(annotation: Annotation, calibrations: Mapping[str, Calibration]) -> str:
    """The calibration a value used: ``"manual: ball 25 mm"``, the header source, or px."""
    if annotation.calibration_id is not None:
        calibration = calibrations.get(annotation.calibration_id)
        if calibration is not None:
            return f"manual: {method_label(calibration)} {calibration.known_size_mm:g} mm"
        return "manual"
    if annotation.spacing_source:
        try:
            return str(SpacingSource(annotation.spacing_source).label)
        except ValueError:
            return str(annotation.spacing_source)
    return "uncalibrated (px)"


def short_calibration_label(annotation: Annotation, calibrations: Mapping[str, Calibration]) -> str:
    """:func:`calibration_label`, abbreviated to fit the list (``"Imager ÷ magn."``)."""
    if annotation.calibration_id is not None or not annotation.spacing_source:
        return calibration_label(annotation, calibrations).replace("uncalibrated (px)", "px only")
    return SHORT_SOURCES.get(annotation.spacing_source, str(annotation.spacing_source))


class MeasurementList(QtWidgets.QTableWidget):
    """One row per annotation; selecting a row selects the annotation.

    Signals
    -------
    annotation_selected(str)
        The reader picked a row (annotation id).
    """

    annotation_selected = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(_HEADERS), parent)
        self.setHorizontalHeaderLabels(list(_HEADERS))
        self.verticalHeader().hide()
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        # Every column as wide as its text (the calibration column was cut off when the last
        # section stretched into a narrow dock); a scroll bar when the dock is narrower.
        self.horizontalHeader().setStretchLastSection(False)
        self.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.setWordWrap(False)
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self._ids: list[str] = []
        self.itemSelectionChanged.connect(self._selection_changed)

    def set_annotations(
        self,
        annotations: Sequence[Annotation],
        calibrations: Sequence[Calibration],
        image_labels: Mapping[str, str],
        selected: str | None,
    ) -> None:
        """Show the case's annotations (signals blocked)."""
        by_id = {c.id: c for c in calibrations}
        blocker = QtCore.QSignalBlocker(self)
        self.setRowCount(len(annotations) + len(calibrations))
        self._ids = []
        row = 0
        for calibration in calibrations:
            cells = (
                "calibration",
                image_labels.get(calibration.image_code, calibration.image_code),
                f"{calibration.known_size_mm:g} mm = {calibration.length_px:.1f} px",
                f"{method_label(calibration)} {calibration.spacing_col_mm:.4f} mm/px",
            )
            full = (
                f"manual calibration: {method_label(calibration)} of "
                f"{calibration.known_size_mm:g} mm "
                f"drawn {calibration.length_px:.1f} px long → {calibration.spacing_row_mm:.4f} "
                f"× {calibration.spacing_col_mm:.4f} mm/px (row × column)"
            )
            self._fill(row, cells, full)
            self._ids.append("")
            row += 1
        for annotation in annotations:
            cells = (
                KIND_LABELS[annotation.kind],
                " · ".join(
                    part
                    for part in (
                        image_labels.get(annotation.image_code, annotation.image_code),
                        annotation.zone,
                    )
                    if part
                ),
                value_text(annotation)
                + (
                    f" ± {annotation.width_uncertainty_mm:.2f} (profile fit)"
                    if annotation.width_uncertainty_mm is not None
                    else ""
                ),
                short_calibration_label(annotation, by_id),
            )
            self._fill(row, cells, calibration_label(annotation, by_id))
            self._ids.append(annotation.id)
            if annotation.id == selected:
                self.selectRow(row)
            row += 1
        self.resizeColumnsToContents()
        del blocker

    def _fill(self, row: int, cells: Sequence[str], calibration_tooltip: str) -> None:
        for col, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(calibration_tooltip if col == len(cells) - 1 else text)
            self.setItem(row, col, item)

    def annotation_ids(self) -> list[str]:
        """Annotation ids in row order ("" for calibration rows)."""
        return list(self._ids)

    def _selection_changed(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        for row in rows:
            if 0 <= row < len(self._ids) and self._ids[row]:
                self.annotation_selected.emit(self._ids[row])
