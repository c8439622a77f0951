"""Oxford scores and adverse events in the study database: import, entry, correction, listing.

Every write goes through :meth:`collarreader.db.repository.Repository.transaction`, so each
inserted or corrected row appends its audit event in the same database transaction, and
``collarreader verify`` replays it like a reading.

Rules
-----
* Clinical data live in the **study** database (the one ``collarreader merge`` creates); a
  reader's database is refused, and so is a path that does not exist (no study database is
  created here, so a typing error in the path cannot start a second, empty study).
* A CSV import validates every row first (:mod:`collarreader.clinical.csv_import`), then
  writes everything in one transaction: all or nothing.
* Importing the same file again adds nothing and writes no audit event: a row whose natural
  key (Oxford: patient, instrument, time point; adverse event: patient, onset date, category,
  description) is recorded with the same content is skipped.
* A row whose natural key is recorded with *different* content is a correction of recorded
  data. It is refused, naming the row, unless the import is asked to apply corrections
  (``update=True`` with a ``reason``; the command's ``--update --reason``), in which case each
  such row is an audited correction carrying the reason.
* A correction always carries a reason (:func:`correct_oxford`, :func:`correct_adverse_event`);
  the functions take it as an argument and never ask for it (dialogs belong to the UI).
* Totals are never stored: :func:`list_clinical` scores every questionnaire when it lists it.

Modules
-------
:mod:`~collarreader.clinical.store.study_database`
    Opening the study database and refusing any other; the patients of the key.
:mod:`~collarreader.clinical.store.rows`
    Rows ↔ records, reading every row, inserting, natural-key lookups.
:mod:`~collarreader.clinical.store.importing`
    The two CSV imports.
:mod:`~collarreader.clinical.store.entry`
    Records entered by hand.
:mod:`~collarreader.clinical.store.correction`
    Audited corrections and the wording of a change.
:mod:`~collarreader.clinical.store.listing`
    The tables (pandas) and their plain-text listing.
:mod:`~collarreader.clinical.store.checking`
    Re-validation of every stored row.

Everything public is re-exported here: ``from collarreader.clinical.store import …`` is the
import path for callers.
"""

from __future__ import annotations

from collarreader.clinical.store.checking import clinical_findings
from collarreader.clinical.store.correction import (
    AE_FIELDS,
    OXFORD_FIELDS,
    correct_adverse_event,
    correct_oxford,
    describe_ae_changes,
    describe_oxford_changes,
)
from collarreader.clinical.store.entry import add_adverse_event, add_oxford
from collarreader.clinical.store.importing import ImportReport, import_ae_csv, import_oxford_csv
from collarreader.clinical.store.listing import (
    AE_COLUMNS,
    OXFORD_COLUMNS,
    ae_frame,
    format_clinical,
    list_clinical,
    oxford_frame,
)
from collarreader.clinical.store.rows import (
    AE_ENTITY,
    OXFORD_ENTITY,
    StoredAdverseEvent,
    StoredOxford,
    adverse_events,
    oxford_questionnaires,
)
from collarreader.clinical.store.study_database import (
    open_study_database,
    require_study,
    study_patients,
)

__all__ = [
    "AE_COLUMNS",
    "AE_ENTITY",
    "AE_FIELDS",
    "OXFORD_COLUMNS",
    "OXFORD_ENTITY",
    "OXFORD_FIELDS",
    "ImportReport",
    "StoredAdverseEvent",
    "StoredOxford",
    "add_adverse_event",
    "add_oxford",
    "adverse_events",
    "ae_frame",
    "clinical_findings",
    "correct_adverse_event",
    "correct_oxford",
    "describe_ae_changes",
    "describe_oxford_changes",
    "format_clinical",
    "import_ae_csv",
    "import_oxford_csv",
    "list_clinical",
    "open_study_database",
    "oxford_frame",
    "oxford_questionnaires",
    "require_study",
    "study_patients",
]
