"""Series-reading commands: an implant migration measured between two films of one view.

The measurement itself is :func:`collarreader.measure.migration.measure_migration`; this
module records it in the reading as one gesture (one transaction, one undo step): the
protocol field ``migration_mm`` at the later film's time point and view, with
``source="measured"``, and a ``migrations`` row holding every landmark, each film's known
implant size, both calibrated distances and the method — so the value can be traced and
re-measured.
"""

from __future__ import annotations

import uuid

from collarreader.db.repository import Repository
from collarreader.db.transaction import Transaction
from collarreader.measure.migration import FilmLandmarks, Migration, measure_migration
from collarreader.model import ScoreSource
from collarreader.session import ReadingContext, SessionError, SetScore

MIGRATION_FIELD = "migration_mm"


def _landmarks_json(landmarks: FilmLandmarks) -> dict[str, list[list[float]]]:
    return {
        "implant": [[float(v) for v in landmarks.implant_px]],
        "bone": [[float(v) for v in landmarks.bone_px]],
        "reference": [[float(v) for v in point] for point in landmarks.reference_px],
    }


class RecordMigration(SetScore):
    """Measure and record the migration between the earlier and the later film of a view.

    Parameters
    ----------
    context : the reading
    earlier_image_code, later_image_code : the two films of one view
    earlier, later : the landmarks placed on each film (pixel points of that film)
    """

    def __init__(
        self,
        context: ReadingContext,
        earlier_image_code: str,
        later_image_code: str,
        earlier: FilmLandmarks,
        later: FilmLandmarks,
    ) -> None:
        first, second = context.image(earlier_image_code), context.image(later_image_code)
        if first.view != second.view or first.image_code == second.image_code:
            message = (
                f"Case {context.case.case_code}: migration is measured between two films of one "
                f"view, not {first.image_code} ({first.view}) and {second.image_code} "
                f"({second.view})."
            )
            raise SessionError(message)
        try:
            self.migration: Migration = measure_migration(earlier, later)
        except ValueError as error:
            message = f"Migration on {first.view}: {error}"
            raise SessionError(message) from error
        super().__init__(
            context,
            MIGRATION_FIELD,
            self.migration.migration_mm,
            timepoint=second.timepoint,
            view=second.view,
        )
        self.text = f"record migration ({first.view})"
        self.earlier_image, self.later_image = first, second
        self.landmarks = {"earlier": _landmarks_json(earlier), "later": _landmarks_json(later)}
        self.reference_mm = {"earlier": earlier.reference_mm, "later": later.reference_mm}

    def _do(self, tx: Transaction, repository: Repository) -> None:
        super()._do(tx, repository)
        score = self._current(tx)
        if score is not None and score["source"] != ScoreSource.MEASURED:
            tx.update("scores", score["id"], {"source": str(ScoreSource.MEASURED)}, before=score)
        earlier_id = repository.image_id(self.earlier_image.image_code)
        later_id = repository.image_id(self.later_image.image_code)
        values = {
            "landmarks_px": self.landmarks,
            "reference_mm": self.reference_mm,
            "earlier_mm": self.migration.earlier_mm,
            "later_mm": self.migration.later_mm,
            "migration_mm": self.migration.migration_mm,
            "method": self.migration.method,
            "created_at": tx.at,
        }
        existing = tx.rows(
            "migrations",
            reading_id=self.context.reading_id,
            earlier_image_id=earlier_id,
            later_image_id=later_id,
        )
        if existing:
            tx.update("migrations", existing[0]["id"], values, before=existing[0])
        else:
            tx.insert(
                "migrations",
                {
                    "id": str(uuid.uuid4()),
                    "reading_id": self.context.reading_id,
                    "earlier_image_id": earlier_id,
                    "later_image_id": later_id,
                    **values,
                },
            )
