"""The hanging protocol of a case: views in rows, time points in columns.

The default is 2 × 2: rows AP and LAT, columns the two time points (``"6 m"``/``"12 m"``,
or ``"A"``/``"B"`` when time points are blinded). Pan and zoom are linked within a row (the
two time points of one view) so the reader compares the same physical region:

- when every image of the row has a spacing, the link works in millimetres: the same
  mm per screen pixel, and a pan of *d* mm in one image pans the others by *d* mm;
- otherwise it works in pixels.

The link keeps the offset the images had when it was made (zoom to fit anchors every
image's centre to the others'), so a reader can re-align one image with the link off and
turn it back on.

When a row has a registration (:meth:`HangingGrid.set_registration`: the later film mapped
onto the earlier one on the implant), the row is linked by **anatomy** instead: the later
film is shown through the registration (rotated, scaled and shifted onto the earlier film's
pixel frame) and both viewports share one view rectangle, so pan and zoom keep the same
anatomy under the same screen position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.imaging import Radiograph, Spacing
from collarreader.ui.viewport import Viewport


class LinkUnit(StrEnum):
    """What a linked row keeps equal between its images."""

    mm = "mm"
    px = "px"
    anatomy = "anatomy"


class AxisMap(NamedTuple):
    """Affine map from one viewport's view coordinates to the row's shared link frame.

    ``u = scale * v + offset`` per axis; ``scale`` is mm per pixel (or 1 when linking by
    pixels) and ``offset`` anchors the images to each other.
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    def to_link(self, vx: float, vy: float) -> tuple[float, float]:
        """View coordinates → link frame."""
        return (self.scale_x * vx + self.offset_x, self.scale_y * vy + self.offset_y)

    def from_link(self, ux: float, uy: float) -> tuple[float, float]:
        """Link frame → view coordinates."""
        return ((ux - self.offset_x) / self.scale_x, (uy - self.offset_y) / self.scale_y)


def link_unit(spacings: Sequence[Spacing | None]) -> LinkUnit:
    """Millimetres when every image of a row has a usable spacing, else pixels."""
    if spacings and all(s is not None and s.row_mm > 0 and s.col_mm > 0 for s in spacings):
        return LinkUnit.mm
    return LinkUnit.px


def link_scales(spacing: Spacing | None, unit: LinkUnit) -> tuple[float, float]:
    """Link-frame units per pixel along x and y for one image."""
    if unit is LinkUnit.mm:
        if spacing is None:
            raise ValueError("An image without spacing cannot be linked in millimetres.")
        return (spacing.col_mm, spacing.row_mm)
    return (1.0, 1.0)


ImageEntry = Radiograph | Exception | None


class HangingGrid(QtWidgets.QWidget):
    """Views × time points of one case, with linked pan/zoom, maximise and a focused viewport.

    Parameters
    ----------
    views : row keys, top to bottom (protocol views, e.g. ``("AP", "LAT")``)
    timepoints : column keys, left to right (e.g. ``("6m", "12m")`` or ``("A", "B")``)
    labels : text shown for each column, e.g. ``("6 m", "12 m")``; the keys by default

    Signals
    -------
    focus_changed(int)
        Index (row-major: ``row * n_columns + column``) of the newly focused viewport.
    link_changed(bool)
        Linking switched on or off.
    maximised_changed(object)
        Index of the maximised viewport, or None when the grid is restored.

    Keys (when the grid has keyboard focus, acting on the focused viewport)
    -----------------------------------------------------------------------
    Space or Return: maximise/restore · F: zoom to fit · 1: one image pixel per screen
    pixel · I: invert · R: reset window, inversion and zoom · L: link on/off · M: loupe.
    """

    focus_changed = QtCore.Signal(int)
    link_changed = QtCore.Signal(bool)
    maximised_changed = QtCore.Signal(object)

    def __init__(
        self,
        views: Sequence[str] = ("AP", "LAT"),
        timepoints: Sequence[str] = ("6m", "12m"),
        labels: Sequence[str] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        if not views:
            raise ValueError("A hanging grid needs at least one view.")
        self._views = tuple(views)
        self._timepoints: tuple[str, ...] = ()
        self._labels: tuple[str, ...] = ()
        self._set_columns(timepoints, labels)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor("#101010"))
        self.setPalette(palette)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

        self._layout = QtWidgets.QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._viewports: list[Viewport] = []
        for row in range(len(self._views)):
            for col in range(len(self._timepoints)):
                viewport = Viewport(self)
                index = len(self._viewports)
                self._viewports.append(viewport)
                self._layout.addWidget(viewport, row, col)
                viewport.activated.connect(lambda i=index: self.focus_viewport(i))
                viewport.double_clicked.connect(lambda i=index: self._double_clicked(i))
                viewport.view_changed.connect(lambda i=index: self._propagate_view(i))

        self._linked = True
        self._syncing = False
        self._maps: dict[int, AxisMap] = {}
        self._row_units: dict[int, LinkUnit | None] = {}
        self._registrations: dict[int, object] = {}
        self._maximised: int | None = None
        self._focused = 0
        self._viewports[0].set_focused(True)
        self.set_case({})

    # ---------------------------------------------------------------- layout and access

    def _set_columns(self, timepoints: Sequence[str], labels: Sequence[str] | None) -> None:
        if not timepoints:
            raise ValueError("A hanging grid needs at least one time point.")
        if labels is not None and len(labels) != len(timepoints):
            raise ValueError(
                f"{len(labels)} labels were given for {len(timepoints)} time points; give "
                "one label per time point."
            )
        if self._timepoints and len(timepoints) != len(self._timepoints):
            raise ValueError(
                f"This grid has {len(self._timepoints)} time-point columns, not "
                f"{len(timepoints)}; make a new grid for another layout."
            )
        self._timepoints = tuple(timepoints)
        self._labels = tuple(labels) if labels is not None else self._timepoints

    @property
    def views(self) -> tuple[str, ...]:
        """Row keys, top to bottom."""
        return self._views

    @property
    def timepoints(self) -> tuple[str, ...]:
        """Column keys, left to right."""
        return self._timepoints

    @property
    def labels(self) -> tuple[str, ...]:
        """Column labels shown in the titles."""
        return self._labels

    @property
    def viewports(self) -> tuple[Viewport, ...]:
        """All viewports, row-major."""
        return tuple(self._viewports)

    def index_of(self, view: str, timepoint: str) -> int:
        """Row-major index of the viewport showing ``view`` at ``timepoint``."""
        try:
            row = self._views.index(view)
            col = self._timepoints.index(timepoint)
        except ValueError:
            raise KeyError(
                f"No viewport for view {view!r} at time point {timepoint!r}; this grid has "
                f"views {self._views} and time points {self._timepoints}."
            ) from None
        return row * len(self._timepoints) + col

    def viewport(self, view: str, timepoint: str) -> Viewport:
        """The viewport showing ``view`` at ``timepoint``."""
        return self._viewports[self.index_of(view, timepoint)]

    def _row_indices(self, row: int) -> list[int]:
        n = len(self._timepoints)
        return list(range(row * n, (row + 1) * n))

    def _row_of(self, index: int) -> int:
        return index // len(self._timepoints)

    # ---------------------------------------------------------------- content

    def set_case(
        self,
        images: Mapping[tuple[str, str], ImageEntry],
        *,
        timepoints: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        """Show a case: every viewport gets its image, an error text, or stays empty.

        Parameters
        ----------
        images : (view, timepoint) → Radiograph, or the exception raised loading it (its
            text is shown in that viewport; the others stay usable), or None / missing
            for no image
        timepoints, labels : new column keys and labels (e.g. switching between known and
            blinded time points); the current ones by default

        The viewports and their ImageItems are reused; the grid is restored from a
        maximised viewport and every row is zoomed to fit.
        """
        if timepoints is not None:
            self._set_columns(timepoints, labels)
        elif labels is not None:
            self._set_columns(self._timepoints, labels)
        for view, timepoint in images:
            self.index_of(view, timepoint)  # raises KeyError naming the unknown pair
        self.restore()
        self._registrations.clear()
        self._syncing = True
        try:
            for row, view in enumerate(self._views):
                for col, timepoint in enumerate(self._timepoints):
                    viewport = self._viewports[row * len(self._timepoints) + col]
                    title = f"{view} · {self._labels[col]}"
                    entry = images.get((view, timepoint))
                    if isinstance(entry, Exception):
                        viewport.set_radiograph(None, title=title)
                        viewport.show_error(str(entry))
                    else:
                        viewport.set_radiograph(entry, title=title)
        finally:
            self._syncing = False
        for row in range(len(self._views)):
            self._fit_row(row)

    # ---------------------------------------------------------------- linking

    @property
    def linked(self) -> bool:
        """True when pan and zoom are linked within each row."""
        return self._linked

    def set_linked(self, linked: bool) -> None:
        """Link or unlink pan/zoom within rows; linking anchors the images as they are."""
        linked = bool(linked)
        if linked == self._linked:
            return
        self._linked = linked
        if linked:
            for row in range(len(self._views)):
                self._anchor_row(row)
                source = self._focused if self._row_of(self._focused) == row else None
                first = source if source is not None else self._first_linked(row)
                if first is not None:
                    self._propagate_view(first)
        self.link_changed.emit(linked)

    def toggle_linked(self) -> None:
        """Switch linking on or off."""
        self.set_linked(not self._linked)

    def set_registration(self, view: str, matrix: object | None) -> None:
        """Link a row by anatomy: show its later film registered onto its earlier film.

        Parameters
        ----------
        view : the row
        matrix : (2, 3) array mapping a pixel (x, y, 1) of the row's second time point to the
            pixel (x, y) of its first (see :mod:`collarreader.measure.registration`), or None
            to go back to linking by mm or px
        """
        row = self._views.index(view)
        first, *others = self._row_indices(row)
        if matrix is None:
            self._registrations.pop(row, None)
        else:
            self._registrations[row] = matrix
        for index in others:
            self._viewports[index].set_display_transform(matrix)
        keep = self._viewports[first].target_rect()
        self._anchor_row(row)
        if self._linked and row in self._registrations and not keep.isEmpty():
            self._syncing = True
            try:
                for index in others:
                    self._viewports[index].set_target_rect(keep)
            finally:
                self._syncing = False
        elif row not in self._registrations:
            self._fit_row(row)

    def registration(self, view: str) -> object | None:
        """The matrix a row is linked by anatomy with, or None."""
        return self._registrations.get(self._views.index(view))

    def row_link_unit(self, view: str) -> LinkUnit | None:
        """How a row is linked (mm or px), or None when it has fewer than two images."""
        return self._row_units.get(self._views.index(view))

    def _row_images(self, row: int) -> list[tuple[int, Radiograph]]:
        found = []
        for index in self._row_indices(row):
            radiograph = self._viewports[index].radiograph
            if radiograph is not None:
                found.append((index, radiograph))
        return found

    def _first_linked(self, row: int) -> int | None:
        images = self._row_images(row)
        return images[0][0] if len(images) > 1 else None

    def _anchor_row(self, row: int) -> None:
        """Make the current view centres of a row correspond to each other."""
        images = self._row_images(row)
        for index in self._row_indices(row):
            self._maps.pop(index, None)
        if len(images) < 2:
            self._row_units[row] = None
            return
        if row in self._registrations:
            # Both viewports show the earlier film's pixel frame: the link is the identity.
            self._row_units[row] = LinkUnit.anatomy
            for index, _ in images:
                center = self._viewports[index].target_rect().center()
                anchor = self._viewports[images[0][0]].target_rect().center()
                self._maps[index] = AxisMap(
                    1.0, 1.0, anchor.x() - center.x(), anchor.y() - center.y()
                )
            return
        unit = link_unit([r.spacing for _, r in images])
        self._row_units[row] = unit
        for index, radiograph in images:
            scale_x, scale_y = link_scales(radiograph.spacing, unit)
            center = self._viewports[index].target_rect().center()
            self._maps[index] = AxisMap(
                scale_x, scale_y, -scale_x * center.x(), -scale_y * center.y()
            )

    def _fit_row(self, row: int) -> None:
        """Zoom a row to fit; when linked, at one common scale so both show the same mm."""
        images = self._row_images(row)
        if not self._linked or len(images) < 2:
            for index, _ in images:
                self._viewports[index].zoom_to_fit()
            self._anchor_row(row)
            return
        if row in self._registrations:
            rect = self._viewports[images[0][0]].image_rect()
            self._syncing = True
            try:
                for index, _ in images:
                    self._viewports[index].set_target_rect(rect)
            finally:
                self._syncing = False
            self._anchor_row(row)
            return
        unit = link_unit([r.spacing for _, r in images])
        half_w = half_h = 0.0
        for _, radiograph in images:
            scale_x, scale_y = link_scales(radiograph.spacing, unit)
            rows, cols = radiograph.pixels.shape[:2]
            half_w = max(half_w, cols * scale_x / 2.0)
            half_h = max(half_h, rows * scale_y / 2.0)
        self._syncing = True
        try:
            for index, radiograph in images:
                scale_x, scale_y = link_scales(radiograph.spacing, unit)
                rows, cols = radiograph.pixels.shape[:2]
                w, h = half_w / scale_x, half_h / scale_y
                rect = QtCore.QRectF(cols / 2.0 - w, rows / 2.0 - h, 2.0 * w, 2.0 * h)
                self._viewports[index].set_target_rect(rect)
        finally:
            self._syncing = False
        self._anchor_row(row)

    def _propagate_view(self, source: int) -> None:
        if self._syncing or not self._linked or source not in self._maps:
            return
        rect = self._viewports[source].target_rect()
        source_map = self._maps[source]
        u0 = source_map.to_link(rect.left(), rect.top())
        u1 = source_map.to_link(rect.right(), rect.bottom())
        self._syncing = True
        try:
            for index in self._row_indices(self._row_of(source)):
                if index == source or index not in self._maps:
                    continue
                x0, y0 = self._maps[index].from_link(*u0)
                x1, y1 = self._maps[index].from_link(*u1)
                self._viewports[index].set_target_rect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        finally:
            self._syncing = False

    # ---------------------------------------------------------------- zoom helpers

    def zoom_to_fit(self, index: int | None = None) -> None:
        """Fit one viewport (with its linked row) or, with no index, every row."""
        rows = range(len(self._views)) if index is None else [self._row_of(index)]
        for row in rows:
            self._fit_row(row)

    def one_to_one(self, index: int | None = None) -> None:
        """One image pixel per screen pixel in a viewport (the focused one by default)."""
        self._viewports[self._focused if index is None else index].one_to_one()

    # ---------------------------------------------------------------- maximise

    @property
    def maximised_index(self) -> int | None:
        """Index of the maximised viewport, or None."""
        return self._maximised

    def maximise(self, index: int) -> None:
        """Show one viewport alone, filling the grid."""
        self._check_index(index)
        for i, viewport in enumerate(self._viewports):
            viewport.setVisible(i == index)
        self._maximised = index
        self.focus_viewport(index)
        self.maximised_changed.emit(index)

    def restore(self) -> None:
        """Show every viewport again."""
        if self._maximised is None:
            return
        for viewport in self._viewports:
            viewport.setVisible(True)
        self._maximised = None
        self.maximised_changed.emit(None)

    def toggle_maximise(self, index: int | None = None) -> None:
        """Maximise a viewport (the focused one by default), or restore the grid."""
        if self._maximised is not None:
            self.restore()
        else:
            self.maximise(self._focused if index is None else index)

    def _double_clicked(self, index: int) -> None:
        # A double-click may finish a tool's gesture; it only maximises while no tool is on.
        if not self._viewports[index].tool_active:
            self.toggle_maximise(index)

    # ---------------------------------------------------------------- focus

    @property
    def focused_index(self) -> int:
        """Index of the focused viewport."""
        return self._focused

    @property
    def focused_viewport(self) -> Viewport:
        """The focused viewport."""
        return self._viewports[self._focused]

    def focus_viewport(self, index: int) -> None:
        """Highlight a viewport as the one keys and tools act on."""
        self._check_index(index)
        for i, viewport in enumerate(self._viewports):
            viewport.set_focused(i == index)
        if index != self._focused:
            self._focused = index
            self.focus_changed.emit(index)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self._viewports):
            raise IndexError(
                f"Viewport index {index} is out of range; this grid has "
                f"{len(self._viewports)} viewports (0–{len(self._viewports) - 1})."
            )

    # ---------------------------------------------------------------- keys

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        """Viewer keys, acting on the focused viewport (see the class docstring)."""
        key = QtCore.Qt.Key
        viewport = self.focused_viewport
        pressed = event.key()
        if pressed in (key.Key_Space, key.Key_Return, key.Key_Enter):
            self.toggle_maximise()
        elif pressed == key.Key_F:
            self.zoom_to_fit(self._focused)
        elif pressed == key.Key_1:
            viewport.one_to_one()
        elif pressed == key.Key_I:
            viewport.toggle_invert()
        elif pressed == key.Key_R:
            viewport.reset_window()
            self.zoom_to_fit(self._focused)
        elif pressed == key.Key_L:
            self.toggle_linked()
        elif pressed == key.Key_M:
            enabled = not viewport.magnifier_enabled
            for each in self._viewports:
                each.set_magnifier_enabled(enabled)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
