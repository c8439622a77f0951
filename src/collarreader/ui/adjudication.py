"""The reader window in consensus mode: every reader's marks overlaid, a consensus recorded.

``collarreader adjudicate STUDY_DB SETDIR`` opens :class:`AdjudicationWindow` — the reading
workstation itself (:class:`~collarreader.ui.main_window.MainWindow`) on a session of reader
``consensus`` in the study database — on the cases of the disagreement list (or all, or chosen
codes). Each reader's marks are drawn over the images in one colour per reader, dashed and not
editable, with a legend; each reader's scores stand in a table beside the scoring panel. The
adjudicator measures and scores as any reader does: the consensus reading goes through the same
commands, repository transactions and audit chain (:mod:`collarreader.analysis.adjudication`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from collarreader.analysis.adjudication import (
    ConsensusSet,
    ReaderMarks,
    open_consensus_session,
    reader_marks,
    select_cases,
)
from collarreader.errors import CollarReaderError
from collarreader.session import score_target
from collarreader.study.readingset import ReadingSet, open_reading_set
from collarreader.ui.main_window import (
    AskReason,
    AskSize,
    MainWindow,
    ask_known_size,
    ask_reopen_reason,
)
from collarreader.ui.overlays import shapes_px
from collarreader.ui.reader import CACHE_BYTES, WINDOW_SIZE, Reader, verify_with_progress
from collarreader.ui.viewport import pixel_to_view

__all__ = ["READER_COLOURS", "AdjudicationWindow", "open_adjudication", "run_adjudication"]

#: One colour per reader, in reader order (Okabe–Ito: told apart with colour-vision deficits).
READER_COLOURS = ("#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7")


def _path(points_px: Sequence[tuple[float, float]]) -> QtGui.QPainterPath:
    path = QtGui.QPainterPath()
    for index, (x, y) in enumerate(points_px):
        vx, vy = pixel_to_view(x, y)
        if index == 0:
            path.moveTo(vx, vy)
        else:
            path.lineTo(vx, vy)
    return path


class AdjudicationWindow(MainWindow):
    """The reading window of reader ``consensus`` with the readers' marks and scores beside.

    Parameters are those of :class:`~collarreader.ui.main_window.MainWindow`; ``reading_set``
    is a :class:`~collarreader.analysis.adjudication.ConsensusSet` and ``session`` the
    consensus session on the study database.
    """

    def __init__(self, reading_set: Any, session: Any, cache: Any, **dialogs: Any) -> None:
        super().__init__(reading_set, session, cache, **dialogs)
        self.setWindowTitle("collarreader — consensus reading (adjudication)")
        readers = sorted({r.reader_id for r in self.repository.readings()} - {session.reader_id})
        self.reader_colours: dict[str, str] = {
            reader: READER_COLOURS[index % len(READER_COLOURS)]
            for index, reader in enumerate(readers)
        }
        self.marks: list[ReaderMarks] = []
        self._reader_items: list[tuple[Any, QtWidgets.QGraphicsItem]] = []

        panel = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(panel)
        self.legend = QtWidgets.QLabel(self._legend_html(), panel)
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.legend)
        self.scores_table = QtWidgets.QTableWidget(panel)
        self.scores_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.scores_table)
        dock = QtWidgets.QDockWidget("Readers", self)
        dock.setObjectName("readers")
        dock.setWidget(panel)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.images_ready.connect(lambda _code: self.draw_readers())

    # ---- legend and scores
    def _legend_html(self) -> str:
        chips = " ".join(
            f'<span style="color:{colour}">━━</span>&nbsp;reader&nbsp;{reader}'
            for reader, colour in self.reader_colours.items()
        )
        return f"<b>Readers' marks</b> (dashed, not editable): {chips}"

    def refresh(self) -> None:
        """Redraw the consensus reading and, over it, the readers' marks and scores."""
        super().refresh()
        context = self.session.context
        if context is None:
            return
        self.marks = reader_marks(self.repository, context.case.case_code)
        self._fill_scores()
        self.draw_readers()

    def _fill_scores(self) -> None:
        readers = [marks.reader for marks in self.marks]
        values: dict[tuple[str, str], dict[str, str]] = {}
        for marks in self.marks:
            for score in marks.scores:
                key = (score_target(score.timepoint, score.view, score.zone), score.field_key)
                values.setdefault(key, {})[marks.reader] = score.value
        table = self.scores_table
        table.clear()
        table.setColumnCount(2 + len(readers))
        table.setHorizontalHeaderLabels(["where", "field", *readers])
        table.setRowCount(len(values))
        for row, ((target, field_key), by_reader) in enumerate(sorted(values.items())):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(target))
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(field_key))
            distinct = len(set(by_reader.values()))
            for column, reader in enumerate(readers, start=2):
                item = QtWidgets.QTableWidgetItem(by_reader.get(reader, ""))
                item.setForeground(QtGui.QColor(self.reader_colours.get(reader, "#ffffff")))
                if distinct > 1:  # readers disagree here: what the adjudicator is for
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()

    # ---- overlay
    def draw_readers(self) -> None:
        """Draw every reader's annotations on the viewports showing their images."""
        for viewport, item in self._reader_items:
            viewport.remove_overlay_item(item)
        self._reader_items = []
        for index, viewport in enumerate(self.grid.viewports):
            code = self.image_code_at(index)
            if code is None or viewport.radiograph is None:
                continue
            for marks in self.marks:
                colour = QtGui.QColor(self.reader_colours.get(marks.reader, "#ffffff"))
                for annotation in marks.annotations:
                    if annotation.image_code != code:
                        continue
                    for points, _secondary in shapes_px(annotation.kind, annotation.points_px):
                        item = QtWidgets.QGraphicsPathItem(_path(points))
                        pen = QtGui.QPen(colour, 1.5, QtCore.Qt.PenStyle.DashLine)
                        pen.setCosmetic(True)
                        item.setPen(pen)
                        item.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
                        item.setToolTip(f"reader {marks.reader}")
                        viewport.add_overlay_item(item)
                        self._reader_items.append((viewport, item))

    @property
    def reader_item_count(self) -> int:
        """Readers' mark items drawn now (for tests and the status bar)."""
        return len(self._reader_items)


def _disagreement_codes(study_db: str | Path, reading_set: ReadingSet) -> Callable[[], list[str]]:
    def codes() -> list[str]:
        from collarreader.analysis.study import study_tables
        from collarreader.analysis.tables import agreement_tables

        tables = study_tables(study_db, protocol=reading_set.path / "protocol.toml")
        result = agreement_tables(tables.tidy, tables.protocol, n_boot=0)
        return [str(code) for code in result.disagreements["case_code"]]

    return codes


def open_adjudication(
    study_db: str | Path,
    setdir: str | Path,
    *,
    codes: Sequence[str] = (),
    all_cases: bool = False,
    verify: bool = True,
    ask_size: AskSize | None = None,
    ask_reason: AskReason | None = None,
    clock: Callable[[], float] | None = None,
) -> Reader:
    """Open the study database as reader ``consensus`` and build the window (not yet shown).

    Raises
    ------
    CollarReaderError
        For a damaged set, a database of another set, or no case to adjudicate.
    """
    from collarreader.imaging.cache import RadiographCache
    from collarreader.ui.app import create_application

    create_application()
    reading_set = open_reading_set(setdir, verify=False)
    chosen = select_cases(
        reading_set,
        _disagreement_codes(study_db, reading_set),
        codes=codes,
        all_cases=all_cases,
    )
    if verify:
        verify_with_progress(reading_set)
    cache = RadiographCache(CACHE_BYTES, workers=2, trusted=verify)
    paths = {image.image_code: reading_set.image_path(image) for image in reading_set.images}

    def spacing_for(image_code: str) -> Any:
        path = paths.get(image_code)
        if path is None:
            return None
        try:
            return cache.get(path).spacing
        except CollarReaderError:
            return None

    options: dict[str, Any] = {"spacing_for": spacing_for}
    if clock is not None:
        options["clock"] = clock
    try:
        session = open_consensus_session(study_db, reading_set, chosen, **options)
    except BaseException:
        cache.close()
        raise
    window = AdjudicationWindow(
        ConsensusSet(reading_set, chosen),
        session,
        cache,
        ask_size=ask_size or ask_known_size,
        ask_reason=ask_reason or ask_reopen_reason,
    )
    window.resize(*WINDOW_SIZE)
    return Reader(window, session.repository.database, cache, Path(str(study_db)))


def run_adjudication(
    study_db: str | Path, setdir: str | Path, *, codes: Sequence[str] = (), all_cases: bool = False
) -> int:
    """Run the consensus window until it is closed; 2 when the inputs are refused."""
    import sys

    try:
        reader = open_adjudication(study_db, setdir, codes=codes, all_cases=all_cases)
    except CollarReaderError as error:
        print(f"collarreader adjudicate: {error}", file=sys.stderr)  # noqa: T201
        return 2
    app = QtWidgets.QApplication.instance()
    reader.window.show()
    reader.window.start()
    try:
        return int(app.exec()) if app is not None else 0
    finally:
        reader.close()
