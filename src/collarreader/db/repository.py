"""The repository: every read and write of a database's reading data.

Writes happen inside :meth:`Repository.transaction`, which yields a
:class:`~collarreader.db.transaction.Transaction`: each row change appends its audit event in
the same database transaction, so a change and its audit record commit (or vanish) together.
Reads return the plain domain types of :mod:`collarreader.model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, select

from collarreader.db.audit import row_state
from collarreader.db.engine import STUDY_LEAD, Database
from collarreader.db.ids import set_uuid5
from collarreader.db.models import (
    AnnotationRow,
    CalibrationRow,
    CaseRow,
    ImageRow,
    MigrationRow,
    Reader,
    ReadingRow,
    RegistrationRow,
    ScoreRow,
)
from collarreader.db.transaction import Transaction
from collarreader.errors import DatabaseError
from collarreader.model import (
    Annotation,
    AnnotationKind,
    Calibration,
    CalibrationMethod,
    Case,
    CaseKind,
    DatabaseIdentity,
    ImageRef,
    Reading,
    Score,
    ScoreSource,
    StoredRegistration,
    utc_now_iso,
)

_CASES: Table = CaseRow.__table__  # type: ignore[assignment]
_IMAGES: Table = ImageRow.__table__  # type: ignore[assignment]
_READERS: Table = Reader.__table__  # type: ignore[assignment]
_READINGS: Table = ReadingRow.__table__  # type: ignore[assignment]
_ANNOTATIONS: Table = AnnotationRow.__table__  # type: ignore[assignment]
_SCORES: Table = ScoreRow.__table__  # type: ignore[assignment]
_CALIBRATIONS: Table = CalibrationRow.__table__  # type: ignore[assignment]
_REGISTRATIONS: Table = RegistrationRow.__table__  # type: ignore[assignment]
_MIGRATIONS: Table = MigrationRow.__table__  # type: ignore[assignment]


def _points(value: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in value)


class Repository:
    """Reads and audited writes of one open database.

    Parameters
    ----------
    database : from :func:`collarreader.db.engine.open_database`
    actor : who the audit names; default the database's reader, or ``"study-lead"``
    now : UTC ISO timestamp source (injectable for tests)
    """

    def __init__(
        self,
        database: Database,
        actor: str | None = None,
        *,
        now: Callable[[], str] = utc_now_iso,
    ) -> None:
        self.database = database
        self.actor = actor or database.identity.reader_id or STUDY_LEAD
        self.now = now
        self._image_ids: dict[str, str] = {}
        self._image_codes: dict[str, str] = {}
        self._case_codes: dict[str, str] = {}

    @property
    def identity(self) -> DatabaseIdentity:
        """The database's identity row."""
        return self.database.identity

    # ------------------------------------------------------------------ writing
    @contextmanager
    def transaction(self, reason: str | None = None) -> Iterator[Transaction]:
        """One database transaction whose row changes are audited; commits on normal exit.

        Parameters
        ----------
        reason : stored with every audit event of the transaction
        """
        signer = self.database.signer()
        with self.database.write() as connection:
            tx = Transaction(
                connection,
                db_id=self.identity.id,
                actor=self.actor,
                at=self.now(),
                reason=reason,
                lock_identity=not self.database.is_sqlite,
                signer=signer,
            )
            yield tx
            tx.seal()

    def _require_set_uuid(self) -> str:
        set_uuid = self.identity.set_uuid
        if set_uuid is None:
            message = (
                f"{self.database.label}: records no reading set; create it with the set's UUID."
            )
            raise DatabaseError(message)
        return set_uuid

    def reader_uuid(self, reader_id: str) -> str:
        """The row id of reader ``reader_id`` (deterministic per reading set)."""
        return set_uuid5(self._require_set_uuid(), "reader", reader_id)

    def case_uuid(self, case_code: str) -> str:
        """The row id of case ``case_code`` (deterministic per reading set)."""
        return set_uuid5(self._require_set_uuid(), "case", case_code)

    def reading_uuid(self, case_code: str, reader_id: str) -> str:
        """The row id of a reader's reading of a case (deterministic per reading set)."""
        return set_uuid5(self._require_set_uuid(), "reading", case_code, reader_id)

    def import_cases(self, cases: Iterable[Case], reader_ids: Iterable[str] = ()) -> int:
        """Record readers, cases and images of the reading set; return how many rows were new.

        Idempotent: rows already present (same deterministic id) are left alone. Repeat cases
        reference their primary, whose images they show; primaries are written first.
        """
        set_uuid = self._require_set_uuid()
        ordered = sorted(cases, key=lambda case: case.kind is CaseKind.REPEAT)
        created = 0
        with self.transaction() as tx:
            existing = {
                str(row[0])
                for table in (_READERS, _CASES, _IMAGES)
                for row in tx.connection.execute(select(table.c.id))
            }
            for reader_id in reader_ids:
                row_id = set_uuid5(set_uuid, "reader", reader_id)
                if row_id not in existing:
                    tx.insert("readers", {"id": row_id, "reader_code": reader_id})
                    existing.add(row_id)
                    created += 1
            for case in ordered:
                case_id = set_uuid5(set_uuid, "case", case.case_code)
                if case_id not in existing:
                    repeat_of_id = (
                        None
                        if case.repeat_of is None
                        else set_uuid5(set_uuid, "case", case.repeat_of)
                    )
                    tx.insert(
                        "cases",
                        {
                            "id": case_id,
                            "case_code": case.case_code,
                            "joint": str(case.joint),
                            "side": str(case.side),
                            "kind": str(case.kind),
                            "repeat_of_id": repeat_of_id,
                        },
                    )
                    existing.add(case_id)
                    created += 1
                if case.kind is CaseKind.REPEAT:
                    continue
                for image in case.images:
                    image_id = set_uuid5(set_uuid, "image", image.image_code)
                    if image_id in existing:
                        continue
                    tx.insert(
                        "images",
                        {
                            "id": image_id,
                            "image_code": image.image_code,
                            "case_id": case_id,
                            "view": str(image.view),
                            "timepoint": image.timepoint,
                            "sop_instance_uid": image.sop_instance_uid,
                            "file": image.file,
                            "sha256": image.sha256,
                        },
                    )
                    existing.add(image_id)
                    created += 1
        return created

    # ------------------------------------------------------------------ code ↔ id
    def _load_codes(self) -> None:
        with self.database.read() as connection:
            for row in connection.execute(select(_IMAGES.c.id, _IMAGES.c.image_code)):
                self._image_ids[row.image_code] = row.id
                self._image_codes[row.id] = row.image_code
            for row in connection.execute(select(_CASES.c.id, _CASES.c.case_code)):
                self._case_codes[row.id] = row.case_code

    def image_id(self, image_code: str) -> str:
        """The row id of image ``image_code``; ``DatabaseError`` when it is not recorded."""
        if image_code not in self._image_ids:
            self._load_codes()
        try:
            return self._image_ids[image_code]
        except KeyError:
            message = f"{self.database.label}: no image {image_code!r} is recorded."
            raise DatabaseError(message) from None

    def image_code(self, image_id: str) -> str:
        """The code of the image with row id ``image_id``."""
        if image_id not in self._image_codes:
            self._load_codes()
        return self._image_codes[image_id]

    def case_code(self, case_id: str) -> str:
        """The code of the case with row id ``case_id``."""
        if case_id not in self._case_codes:
            self._load_codes()
        return self._case_codes[case_id]

    # ------------------------------------------------------------------ reading
    def cases(self) -> list[Case]:
        """Every recorded case with its images (repeats with their primary's images)."""
        with self.database.read() as connection:
            case_rows = connection.execute(select(_CASES).order_by(_CASES.c.case_code)).all()
            image_rows = connection.execute(select(_IMAGES).order_by(_IMAGES.c.image_code)).all()
        codes = {row.id: row.case_code for row in case_rows}
        images: dict[str, list[ImageRef]] = {}
        for row in image_rows:
            images.setdefault(row.case_id, []).append(
                ImageRef(
                    image_code=row.image_code,
                    view=row.view,
                    timepoint=row.timepoint,
                    sop_instance_uid=row.sop_instance_uid,
                    file=row.file,
                    sha256=row.sha256,
                )
            )
        result = []
        for row in case_rows:
            shown = row.repeat_of_id if row.repeat_of_id is not None else row.id
            result.append(
                Case(
                    case_code=row.case_code,
                    joint=row.joint,
                    side=row.side,
                    images=tuple(images.get(shown, ())),
                    kind=CaseKind(row.kind),
                    repeat_of=None if row.repeat_of_id is None else codes[row.repeat_of_id],
                )
            )
        return result

    def case(self, case_code: str) -> Case:
        """The case ``case_code``; ``DatabaseError`` when it is not recorded."""
        for case in self.cases():
            if case.case_code == case_code:
                return case
        message = f"{self.database.label}: no case {case_code!r} is recorded."
        raise DatabaseError(message)

    def reading(self, reading_id: str) -> Reading | None:
        """The reading with this id, or None."""
        with self.database.read() as connection:
            row = connection.execute(select(_READINGS).where(_READINGS.c.id == reading_id)).first()
            reader = None
            if row is not None:
                reader = connection.execute(
                    select(_READERS.c.reader_code).where(_READERS.c.id == row.reader_id)
                ).scalar_one()
        if row is None or reader is None:
            return None
        return self.reading_from_state(row_state(_READINGS, row._mapping), reader)

    def readings(self) -> list[Reading]:
        """Every reading, ordered by start."""
        with self.database.read() as connection:
            readers = {row.id: row.reader_code for row in connection.execute(select(_READERS))}
            rows = connection.execute(select(_READINGS).order_by(_READINGS.c.started_at)).all()
        return [
            self.reading_from_state(row_state(_READINGS, row._mapping), readers[row.reader_id])
            for row in rows
        ]

    def annotations(self, reading_id: str) -> list[Annotation]:
        """The annotations of a reading, in creation order."""
        with self.database.read() as connection:
            rows = connection.execute(
                select(_ANNOTATIONS)
                .where(_ANNOTATIONS.c.reading_id == reading_id)
                .order_by(_ANNOTATIONS.c.created_at, _ANNOTATIONS.c.id)
            ).all()
        return [self.annotation_from_state(row_state(_ANNOTATIONS, row._mapping)) for row in rows]

    def scores(self, reading_id: str) -> list[Score]:
        """The scores of a reading."""
        with self.database.read() as connection:
            rows = connection.execute(
                select(_SCORES)
                .where(_SCORES.c.reading_id == reading_id)
                .order_by(_SCORES.c.target, _SCORES.c.field_key)
            ).all()
        return [self.score_from_state(row_state(_SCORES, row._mapping)) for row in rows]

    def calibrations(self, reading_id: str) -> list[Calibration]:
        """The calibrations of a reading (one per calibrated image)."""
        with self.database.read() as connection:
            rows = connection.execute(
                select(_CALIBRATIONS).where(_CALIBRATIONS.c.reading_id == reading_id)
            ).all()
        return [self.calibration_from_state(row_state(_CALIBRATIONS, row._mapping)) for row in rows]

    def registrations(self, reading_id: str) -> list[StoredRegistration]:
        """The registrations stored with a reading (one per pair of films)."""
        with self.database.read() as connection:
            rows = connection.execute(
                select(_REGISTRATIONS)
                .where(_REGISTRATIONS.c.reading_id == reading_id)
                .order_by(_REGISTRATIONS.c.created_at, _REGISTRATIONS.c.id)
            ).all()
        return [
            self.registration_from_state(row_state(_REGISTRATIONS, row._mapping)) for row in rows
        ]

    def migrations(self, reading_id: str) -> list[dict[str, Any]]:
        """The migrations measured in a reading, as row states (image codes added)."""
        with self.database.read() as connection:
            rows = connection.execute(
                select(_MIGRATIONS)
                .where(_MIGRATIONS.c.reading_id == reading_id)
                .order_by(_MIGRATIONS.c.created_at, _MIGRATIONS.c.id)
            ).all()
        states = [row_state(_MIGRATIONS, row._mapping) for row in rows]
        for state in states:
            state["earlier_image_code"] = self.image_code(state["earlier_image_id"])
            state["later_image_code"] = self.image_code(state["later_image_id"])
        return states

    # ------------------------------------------------------------------ state → domain
    def registration_from_state(self, state: Mapping[str, Any]) -> StoredRegistration:
        """A :class:`StoredRegistration` from a ``registrations`` row state."""
        rows = [tuple(float(value) for value in row) for row in state["matrix"]]
        return StoredRegistration(
            id=state["id"],
            reading_id=state["reading_id"],
            fixed_image_code=self.image_code(state["fixed_image_id"]),
            moving_image_code=self.image_code(state["moving_image_id"]),
            matrix=(
                (rows[0][0], rows[0][1], rows[0][2]),
                (rows[1][0], rows[1][1], rows[1][2]),
            ),
            residual=float(state["residual"]),
            overlap=float(state["overlap"]),
            method=state["method"],
            software_version=state["software_version"],
            created_at=state["created_at"],
        )

    def reading_from_state(self, state: Mapping[str, Any], reader_id: str) -> Reading:
        """A :class:`Reading` from a ``readings`` row state."""
        return Reading(
            id=state["id"],
            case_code=self.case_code(state["case_id"]),
            reader_id=reader_id,
            kind=CaseKind(state["kind"]),
            started_at=state["started_at"],
            submitted_at=state["submitted_at"],
            active_seconds=state["active_seconds"],
            locked=state["locked"],
            reopen_reason=state["reopen_reason"],
        )

    def annotation_from_state(self, state: Mapping[str, Any]) -> Annotation:
        """An :class:`Annotation` from an ``annotations`` row state."""
        return Annotation(
            id=state["id"],
            reading_id=state["reading_id"],
            image_code=self.image_code(state["image_id"]),
            kind=AnnotationKind(state["kind"]),
            zone=state["zone"],
            points_px=_points(state["points_px"]),
            calibration_id=state["calibration_id"],
            spacing_row_mm=state["spacing_row_mm"],
            spacing_col_mm=state["spacing_col_mm"],
            spacing_source=state["spacing_source"],
            value_mm=state["value_mm"],
            value_px=state["value_px"],
            created_at=state["created_at"],
            method=state.get("method"),
            width_uncertainty_mm=state.get("width_uncertainty_mm"),
            profile=state.get("profile"),
        )

    def score_from_state(self, state: Mapping[str, Any]) -> Score:
        """A :class:`Score` from a ``scores`` row state."""
        return Score(
            id=state["id"],
            reading_id=state["reading_id"],
            timepoint=state["timepoint"],
            view=state["view"],
            zone=state["zone"],
            field_key=state["field_key"],
            value=state["value"],
            unit=state["unit"],
            source=ScoreSource(state["source"]),
            annotation_id=state["annotation_id"],
            updated_at=state["updated_at"],
        )

    def calibration_from_state(self, state: Mapping[str, Any]) -> Calibration:
        """A :class:`Calibration` from a ``calibrations`` row state."""
        return Calibration(
            id=state["id"],
            reading_id=state["reading_id"],
            image_code=self.image_code(state["image_id"]),
            method=CalibrationMethod(state["method"]),
            known_size_mm=state["known_size_mm"],
            length_px=state["length_px"],
            spacing_row_mm=state["spacing_row_mm"],
            spacing_col_mm=state["spacing_col_mm"],
            source=state["source"],
            points_px=_points(state["points_px"]),
            created_at=state["created_at"],
            fit=state.get("fit"),
            residual_px=state.get("residual_px"),
        )
