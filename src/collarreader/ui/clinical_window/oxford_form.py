"""The Oxford questionnaire editor: identification, twelve answers, the live total and band."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from collarreader.clinical.adverse_events import parse_iso_date
from collarreader.clinical.oxford import (
    ITEM_NAMES,
    Instrument,
    OxfordRecord,
    OxfordScale,
    OxfordScore,
    Timepoint,
    check_item,
    from_legacy_items,
    score,
)
from collarreader.clinical.store import StoredOxford
from collarreader.errors import ClinicalDataError
from collarreader.ui.clinical_window.fields import (
    BAND_COLOURS,
    INSTRUMENT_LABELS,
    MISSING,
    SCALE_LABELS,
    TIMEPOINT_LABELS,
    enum_combo,
    reason_text,
    select_data,
)
from collarreader.ui.clinical_window.form_base import ClinicalForm

__all__ = ["OxfordForm"]


class OxfordForm(ClinicalForm):
    """The questionnaire editor: identification, the twelve answers, the live total and band.

    Signals
    -------
    changed : the form's content or validity changed
    save_requested : the Save button was pressed (the window decides insert or correction)
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.record_id: str | None = None
        self.loaded: OxfordRecord | None = None

        self.instrument_combo = enum_combo(list(Instrument), lambda m: INSTRUMENT_LABELS[m], None)
        self.timepoint_combo = enum_combo(list(Timepoint), lambda m: TIMEPOINT_LABELS[m], None)
        self.date_edit = QtWidgets.QLineEdit()
        self.date_edit.setPlaceholderText("YYYY-MM-DD")
        self.date_edit.setMaxLength(10)
        self.scale_combo = enum_combo(list(OxfordScale), lambda m: SCALE_LABELS[m], None)
        self.source_edit = QtWidgets.QLineEdit()
        self.source_edit.setPlaceholderText("paper, phone, …")
        self.source_edit.setMaxLength(255)

        identity = QtWidgets.QFormLayout()
        identity.addRow("Patient", self.patient_edit)
        identity.addRow("Instrument", self.instrument_combo)
        identity.addRow("Time point", self.timepoint_combo)
        identity.addRow("Completed on", self.date_edit)
        identity.addRow("Scale", self.scale_combo)
        identity.addRow("Source", self.source_edit)

        answers = QtWidgets.QGroupBox("Answers (— = missing)")
        grid = QtWidgets.QGridLayout(answers)
        self.item_boxes: list[QtWidgets.QComboBox] = []
        for index, name in enumerate(ITEM_NAMES):
            combo = QtWidgets.QComboBox()
            combo.addItem(MISSING, None)
            # 0–5 covers both scales; a value outside the chosen scale is flagged, not hidden.
            for value in range(6):
                combo.addItem(str(value), value)
            combo.setObjectName(name)
            combo.setMinimumWidth(64)
            label = QtWidgets.QLabel(f"Q{index + 1}")
            label.setBuddy(combo)
            row, column = divmod(index, 4)
            grid.addWidget(label, row, 2 * column, QtCore.Qt.AlignmentFlag.AlignRight)
            grid.addWidget(combo, row, 2 * column + 1)
            self.item_boxes.append(combo)

        self.total_label = QtWidgets.QLabel()
        self.total_label.setObjectName("total")
        self.band_label = QtWidgets.QLabel()
        self.band_label.setObjectName("band")
        self.detail_label = QtWidgets.QLabel()
        self.detail_label.setWordWrap(True)
        result = QtWidgets.QGroupBox("Score")
        result_layout = QtWidgets.QGridLayout(result)
        result_layout.addWidget(self.total_label, 0, 0)
        result_layout.addWidget(self.band_label, 0, 1)
        result_layout.addWidget(self.detail_label, 1, 0, 1, 2)
        result_layout.setColumnStretch(1, 1)

        self.field_widgets = {
            "patient": self.patient_edit,
            "date": self.date_edit,
            **dict(zip(ITEM_NAMES, self.item_boxes, strict=True)),
        }

        self.date_edit.textEdited.connect(lambda _text: self._touch("date"))
        self.source_edit.textEdited.connect(lambda _text: self._touch("source"))
        for combo in (self.instrument_combo, self.timepoint_combo, self.scale_combo):
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        for combo in self.item_boxes:
            combo.currentIndexChanged.connect(lambda _index: self._refresh())
        self._assemble(identity, answers, result)

    # ---- content
    def items_as_entered(self) -> tuple[int | None, ...]:
        """The twelve answers as chosen (None = missing)."""
        return tuple(combo.currentData() for combo in self.item_boxes)

    def scale(self) -> OxfordScale:
        """The scale the answers are entered on."""
        return OxfordScale(self.scale_combo.currentData())

    def instrument(self) -> Instrument:
        """The chosen instrument."""
        return Instrument(self.instrument_combo.currentData())

    def timepoint(self) -> Timepoint:
        """The chosen time point."""
        return Timepoint(self.timepoint_combo.currentData())

    def live_score(self) -> OxfordScore | None:
        """The score of the answers as they stand, or None while an answer is out of range."""
        try:
            items = self.items_as_entered()
            if self.scale() is OxfordScale.LEGACY:
                items = from_legacy_items(items)
            return score(items, self.instrument())
        except ClinicalDataError:
            return None

    def problems(self) -> dict[str, str]:
        """Every problem of the form by field name (``patient``, ``date``, ``q1`` …)."""
        found, _date = self._check_patient_and_date(
            self.patient_edit.text().strip(), "date", self.date_edit.text()
        )
        for name, value in zip(ITEM_NAMES, self.items_as_entered(), strict=True):
            try:
                check_item(value, scale=self.scale())
            except ClinicalDataError as error:
                found[name] = reason_text(error)
        return found

    def record(self) -> OxfordRecord | None:
        """The questionnaire the form describes, or None while it has a problem."""
        if self.problems():
            return None
        return OxfordRecord(
            patient=self.patient_edit.text().strip(),
            instrument=self.instrument(),
            timepoint=self.timepoint(),
            date=parse_iso_date(self.date_edit.text()),
            items_as_entered=self.items_as_entered(),
            source=self.source_edit.text().strip(),
            scale=self.scale(),
        )

    def _current(self) -> OxfordRecord | None:
        return self.record()

    def _has_entry(self) -> bool:
        return bool(
            self.patient_edit.text().strip()
            or self.date_edit.text().strip()
            or self.source_edit.text().strip()
            or any(value is not None for value in self.items_as_entered())
        )

    # ---- loading
    def start_new(
        self,
        patient: str = "",
        instrument: Instrument = Instrument.HIP,
        timepoint: Timepoint = Timepoint.SIX_MONTHS,
    ) -> None:
        """Empty the form for a new questionnaire (optionally for a given patient and visit)."""
        with self._filling("New questionnaire", {"patient"} if patient else set()):
            self.record_id = None
            self.loaded = None
            self.patient_edit.setText(patient)
            select_data(self.instrument_combo, instrument.value)
            select_data(self.timepoint_combo, timepoint.value)
            self.date_edit.clear()
            select_data(self.scale_combo, OxfordScale.CURRENT.value)
            self.source_edit.clear()
            for combo in self.item_boxes:
                combo.setCurrentIndex(0)

    def load(self, stored: StoredOxford) -> None:
        """Show a recorded questionnaire for correction."""
        record = stored.record
        mode = (
            f"Recorded questionnaire: {record.patient} · {record.instrument.value} · "
            f"{TIMEPOINT_LABELS[record.timepoint]} — last changed "
            f"{stored.updated_at[:16].replace('T', ' ')} UTC"
        )
        with self._filling(mode, {"patient", "date", "source"}):
            self.record_id = stored.id
            self.loaded = record
            self.patient_edit.setText(record.patient)
            select_data(self.instrument_combo, record.instrument.value)
            select_data(self.timepoint_combo, record.timepoint.value)
            self.date_edit.setText(record.date.isoformat())
            select_data(self.scale_combo, record.scale.value)
            self.source_edit.setText(record.source)
            for combo, value in zip(self.item_boxes, record.items_as_entered, strict=True):
                select_data(combo, value)

    def _stored_loaded(self) -> StoredOxford | None:
        if self.loaded is None or self.record_id is None:
            return None
        return StoredOxford(self.record_id, self.loaded, "", "")

    # ---- feedback
    def _shown_untouched(self, name: str) -> bool:
        # An answer is chosen from a list: its problem shows at once.
        return name.startswith("q")

    def _refreshed(self) -> None:
        self._show_score(self.live_score())

    def _show_score(self, result: OxfordScore | None) -> None:
        if result is None:
            self.total_label.setText("—")
            self.band_label.setText("")
            self.detail_label.setText("An answer is outside the scale.")
            return
        if result.total is None or result.band is None:
            self.total_label.setText("no score")
            self.band_label.setText("")
            self.detail_label.setText(
                f"{result.n_missing} answers missing; at most 2 may be missing for a score."
            )
            return
        self.total_label.setText(f"{result.total} / 48")
        self.band_label.setText(result.band.value)
        self.band_label.setStyleSheet(f"color: {BAND_COLOURS[result.band]};")
        if result.imputed:
            plural = "answer" if result.n_missing == 1 else "answers"
            self.detail_label.setText(
                f"{result.n_missing} missing {plural} replaced by the mean of the others "
                f"({result.total_unrounded:.2f} before rounding)."
            )
        else:
            self.detail_label.setText("All 12 answers given.")
