"""Clinical data in a real study database: import, idempotence, corrections, audit, refusal."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from collarreader.clinical.adverse_events import (
    Action,
    AdverseEvent,
    Category,
    Outcome,
    Relation,
    Severity,
)
from collarreader.clinical.oxford import Instrument, OxfordRecord, OxfordScale, Timepoint
from collarreader.clinical.store import (
    add_adverse_event,
    add_oxford,
    adverse_events,
    clinical_findings,
    correct_adverse_event,
    correct_oxford,
    format_clinical,
    import_ae_csv,
    import_oxford_csv,
    list_clinical,
    open_study_database,
    oxford_questionnaires,
)
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import HEAD_REVISION, Database, open_database
from collarreader.db.models import AUDITED_TABLES, AuditEvent, Base
from collarreader.db.verify import verify_database
from collarreader.errors import ClinicalDataError, DatabaseError

OXFORD_HEADER = "patient,instrument,timepoint,date," + ",".join(f"q{n}" for n in range(1, 13))
AE_HEADER = "patient,onset_date,description,category,severity,relation,action,outcome"

GOOD_OXFORD = "\n".join(
    [
        OXFORD_HEADER + ",source",
        "P001,hip,6m,2024-09-01,4,4,4,4,3,3,3,3,2,2,2,2,paper",  # 36 mild to moderate
        # 11 answered, sum 43: 12 × 43 / 11 = 46.9 → 47 satisfactory
        "P001,hip,12m,2025-03-01,4,4,4,4,4,4,4,4,4,4,,3,phone",
        "",
        "P002,knee,6m,2024-10-10,1,,,1,1,1,1,1,1,1,1,1,paper",  # 10 answered, sum 10: 12 severe
        "P002,knee,12m,2025-04-02,1,,,,1,1,1,1,1,1,1,1,paper",  # 3 missing: no score
    ]
)
GOOD_AE = "\n".join(
    [
        AE_HEADER,
        "P001,2024-11-02,Deep wound infection,type 4,severe,probable,revision,recovered",
        "",
        "P002,2024-12-24,Deep-vein thrombosis,other,moderate,unrelated,medication,recovered",
        "P002,2025-02-01,Dislocation,soft tissue,grade 2,possible,reoperation,recovering",
    ]
)


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def study(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "study.sqlite", create=True, role="study")
    yield database
    database.close()


def counts(database: Database) -> tuple[int, int, int]:
    """(Oxford rows, adverse-event rows, audit events)."""
    with database.read() as connection:
        return (
            connection.execute(select(func.count()).select_from(OXFORD_TABLE)).scalar_one(),
            connection.execute(select(func.count()).select_from(ADVERSE_EVENT_TABLE)).scalar_one(),
            connection.execute(select(func.count()).select_from(AuditEvent.__table__)).scalar_one(),
        )


def audit_rows(database: Database, entity: str) -> list[dict[str, object]]:
    table = AuditEvent.__table__
    with database.read() as connection:
        rows = connection.execute(
            select(table).where(table.c.entity == entity).order_by(table.c.seq)
        ).all()
    return [dict(row._mapping) for row in rows]


def assert_verifies(database: Database) -> None:
    assert database.path is not None
    assert verify_database(database.path) == []
    assert clinical_findings(database) == []


# ---------------------------------------------------------------- schema


def test_clinical_tables_are_migrated_audited_and_match_the_models(study: Database) -> None:
    assert {"oxford_questionnaires", "adverse_events"} <= set(AUDITED_TABLES)
    with study.engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert study.identity.schema_revision == HEAD_REVISION
    assert_verifies(study)


def test_a_0002_study_database_is_upgraded_with_empty_clinical_tables(tmp_path: Path) -> None:
    from collarreader.db.engine import database_url, make_engine, run_migrations
    from collarreader.db.transaction import Transaction

    path = tmp_path / "old-study.sqlite"
    engine = make_engine(database_url(path)[0])
    db_id = str(uuid.uuid4())
    with engine.connect() as plain, plain.begin():
        run_migrations(plain, "0002_merge_log")
        Transaction(
            plain, db_id=db_id, actor="study-lead", at="2024-01-01T00:00:00.000000Z"
        ).insert(
            "db_identity",
            {
                "id": db_id,
                "role": "study",
                "created_at": "2024-01-01T00:00:00.000000Z",
                "app_version": "0.1.0",
                "schema_revision": "0002_merge_log",
            },
        )
    engine.dispose()
    database = open_study_database(path)
    try:
        assert database.backup_path is not None
        assert counts(database)[:2] == (0, 0)
        assert_verifies(database)
    finally:
        database.close()


# ---------------------------------------------------------------- import


def test_good_files_import_and_list_with_computed_totals(study: Database, tmp_path: Path) -> None:
    report = import_oxford_csv(study, write(tmp_path, GOOD_OXFORD, "oxford.csv"))
    assert report.added == (2, 3, 5, 6)
    assert report.unchanged == ()
    assert report.corrected == ()
    assert "4 added" in str(report)
    report = import_ae_csv(study, write(tmp_path, GOOD_AE, "ae.csv"))
    assert report.added == (2, 4, 5)
    assert report.warnings == ()
    assert counts(study) == (4, 3, 1 + 4 + 3)  # identity + one event per row
    assert_verifies(study)

    oxford, events = list_clinical(study)
    assert list(oxford["patient"]) == ["P001", "P001", "P002", "P002"]
    assert list(oxford["timepoint"]) == ["6m", "12m", "6m", "12m"]
    assert oxford["total"].tolist()[:3] == [36, 47, 12]
    assert oxford["total"].isna().tolist() == [False, False, False, True]
    assert oxford["band"].tolist()[:3] == ["mild to moderate", "satisfactory", "severe"]
    assert pd.isna(oxford.loc[3, "band"])
    assert oxford["n_missing"].tolist() == [0, 1, 2, 3]
    assert oxford.loc[1, "q11"] is pd.NA
    assert oxford.loc[0, "source"] == "paper"
    assert list(events["category"]) == ["infection", "other", "soft tissue"]
    assert events["henderson_type"].tolist()[0] == 4
    assert events["severity"].tolist() == ["severe", "moderate", "moderate"]
    assert events["related"].tolist() == [True, False, True]

    text = format_clinical(oxford, events)
    assert "Oxford questionnaires: 4" in text
    assert "Adverse events: 3" in text
    assert "4 4 4 4 4 4 4 4 4 4 · 3" in text
    assert "no score (>2 missing)" in text
    assert "infection (type 4)" in text


def test_reimport_adds_nothing_and_writes_no_audit_event(study: Database, tmp_path: Path) -> None:
    oxford_csv = write(tmp_path, GOOD_OXFORD, "oxford.csv")
    ae_csv = write(tmp_path, GOOD_AE, "ae.csv")
    import_oxford_csv(study, oxford_csv)
    import_ae_csv(study, ae_csv)
    before = counts(study)
    again = import_oxford_csv(study, oxford_csv)
    assert again.added == ()
    assert again.unchanged == (2, 3, 5, 6)
    again = import_ae_csv(study, ae_csv)
    assert again.added == ()
    assert again.unchanged == (2, 4, 5)
    assert counts(study) == before
    assert_verifies(study)


def test_a_bad_file_is_refused_with_row_numbers_and_nothing_is_written(
    study: Database, tmp_path: Path
) -> None:
    import_oxford_csv(study, write(tmp_path, GOOD_OXFORD, "oxford.csv"))
    before = counts(study)
    bad = "\n".join(
        [
            OXFORD_HEADER,
            "P003,hip,6m,2024-09-01,4,4,4,4,3,3,3,3,2,2,2,2",  # good, but must not be written
            "P004,hip,6m,2024-02-30,4,4,4,4,3,3,3,3,2,2,2,7",
        ]
    )
    with pytest.raises(ClinicalDataError) as caught:
        import_oxford_csv(study, write(tmp_path, bad, "bad.csv"))
    message = str(caught.value)
    assert "row 3, column date" in message
    assert "row 3, column q12" in message
    assert "nothing was imported" in message
    assert counts(study) == before

    bad_ae = "\n".join(
        [AE_HEADER, "P009,2024-11-02,Fracture,type 9,severe,probable,revision,recovered"]
    )
    with pytest.raises(ClinicalDataError, match="row 2, column category"):
        import_ae_csv(study, write(tmp_path, bad_ae, "bad-ae.csv"))
    assert counts(study) == before
    assert_verifies(study)


def test_a_changed_row_is_refused_naming_it_then_applied_with_update_and_reason(
    study: Database, tmp_path: Path
) -> None:
    import_oxford_csv(study, write(tmp_path, GOOD_OXFORD, "oxford.csv"))
    before = counts(study)
    changed = GOOD_OXFORD.replace(
        "P002,knee,6m,2024-10-10,1,,,1", "P002,knee,6m,2024-10-10,2,,,1"
    ).replace("P003", "P003")
    extra = changed + "\nP005,hip,6m,2024-09-01,4,4,4,4,4,4,4,4,4,4,4,4,paper"
    path = write(tmp_path, extra, "oxford-v2.csv")
    with pytest.raises(ClinicalDataError) as caught:
        import_oxford_csv(study, path)
    message = str(caught.value)
    assert "row 5: patient P002, knee, 6m is recorded with q1 1 → 2" in message
    assert "clinical edit" in message
    assert "--update --reason" in message
    assert counts(study) == before  # P005 was not added either: all or nothing

    with pytest.raises(ClinicalDataError, match="needs a reason"):
        import_oxford_csv(study, path, update=True, reason="  ")
    report = import_oxford_csv(study, path, update=True, reason="re-keyed from the paper form")
    assert report.corrected == (5,)
    assert report.added == (7,)
    assert len(report.unchanged) == 3
    corrections = [
        e for e in audit_rows(study, "oxford_questionnaires") if e["action"] == "correct"
    ]
    assert len(corrections) == 1
    assert corrections[0]["reason"] == "re-keyed from the paper form (import of oxford-v2.csv)"
    assert json.loads(str(corrections[0]["before"]))["q1"] == 1
    assert json.loads(str(corrections[0]["after"]))["q1"] == 2
    assert_verifies(study)


def test_a_changed_adverse_event_is_refused_and_a_near_duplicate_warned(
    study: Database, tmp_path: Path
) -> None:
    import_ae_csv(study, write(tmp_path, GOOD_AE, "ae.csv"))
    before = counts(study)
    changed = GOOD_AE.replace(
        "severe,probable,revision,recovered", "severe,definite,revision,recovered"
    )
    with pytest.raises(ClinicalDataError) as caught:
        import_ae_csv(study, write(tmp_path, changed, "ae-v2.csv"))
    expected = "row 2: patient P001, 2024-11-02, infection is recorded with relation"
    assert f"{expected} 'probable' → 'definite'" in str(caught.value)
    assert counts(study) == before

    reworded = (
        AE_HEADER
        + "\nP001,2024-11-02,Deep infection of the wound,4,severe,probable,revision,recovered"
    )
    report = import_ae_csv(study, write(tmp_path, reworded, "ae-v3.csv"))
    assert report.added == (2,)
    assert len(report.warnings) == 1
    assert "Deep wound infection" in report.warnings[0]
    assert_verifies(study)


def test_patients_must_be_in_the_key_when_one_is_given(study: Database, tmp_path: Path) -> None:
    key = tmp_path / "study.key"
    key.write_text(
        json.dumps(
            {
                "format": "collarreader-key",
                "version": 1,
                "set_uuid": str(uuid.uuid4()),
                "secret": "00" * 16,
                "manifest": str(tmp_path / "manifest.csv"),
                "cases": {
                    "K1": {"site": "S1", "patient": "P001", "joint": "hip", "side": "L"},
                    "K2": {"site": "S1", "patient": "P002", "joint": "knee", "side": "R"},
                },
                "images": {},
                "repeats": {},
            }
        ),
        encoding="utf-8",
    )
    with_stranger = GOOD_OXFORD + "\nP777,hip,6m,2024-09-01,4,4,4,4,4,4,4,4,4,4,4,4,paper"
    with pytest.raises(ClinicalDataError, match="row 7, column patient: 'P777' is not a patient"):
        import_oxford_csv(study, write(tmp_path, with_stranger, "o.csv"), key_path=key)
    assert counts(study)[0] == 0
    assert import_oxford_csv(study, write(tmp_path, GOOD_OXFORD, "o2.csv"), key_path=key).added
    assert import_ae_csv(study, write(tmp_path, GOOD_AE, "a.csv"), key_path=key).added


def test_legacy_files_keep_answers_as_entered_and_score_converted(
    study: Database, tmp_path: Path
) -> None:
    legacy = OXFORD_HEADER + "\nP001,hip,6m,2024-09-01,1,1,1,1,2,2,2,2,3,3,3,3"
    import_oxford_csv(study, write(tmp_path, legacy, "legacy.csv"), legacy=True)
    oxford, _ = list_clinical(study)
    assert oxford.loc[0, "scale"] == "legacy-12-60"
    assert oxford.loc[0, "q1"] == 1  # as entered
    assert oxford.loc[0, "total"] == 36  # 60 − 24


# ---------------------------------------------------------------- entry and correction


def record(**changes: object) -> OxfordRecord:
    values: dict[str, object] = {
        "patient": "P010",
        "instrument": Instrument.KNEE,
        "timepoint": Timepoint.SIX_MONTHS,
        "date": dt.date(2024, 5, 6),
        "items_as_entered": (3,) * 12,
        "source": "clinic",
    }
    values.update(changes)
    return OxfordRecord(**values)  # type: ignore[arg-type]


def event(**changes: object) -> AdverseEvent:
    values: dict[str, object] = {
        "patient": "P010",
        "onset_date": dt.date(2024, 7, 1),
        "description": "Periprosthetic fracture below the stem",
        "category": Category.STRUCTURAL,
        "severity": Severity.SEVERE,
        "relation": Relation.POSSIBLE,
        "action": Action.REVISION,
        "outcome": Outcome.RECOVERING,
    }
    values.update(changes)
    return AdverseEvent(**values)  # type: ignore[arg-type]


def test_entered_records_are_audited_and_duplicates_refused(study: Database) -> None:
    record_id = add_oxford(study, record(), actor="lead-1")
    event_id = add_adverse_event(study, event(), actor="lead-1", reason="reported by site 2")
    (created,) = audit_rows(study, "oxford_questionnaires")
    assert created["entity_id"] == record_id
    assert created["action"] == "create"
    assert created["actor"] == "lead-1"
    assert audit_rows(study, "adverse_events")[0]["reason"] == "reported by site 2"
    before = counts(study)
    with pytest.raises(ClinicalDataError, match="already recorded"):
        add_oxford(study, record(items_as_entered=(4,) * 12))
    with pytest.raises(ClinicalDataError, match="already recorded"):
        add_adverse_event(study, event(description="periprosthetic  fracture below the STEM"))
    with pytest.raises(ClinicalDataError, match="in the future"):
        add_oxford(study, record(timepoint=Timepoint.TWELVE_MONTHS, date=dt.date(2999, 1, 1)))
    with pytest.raises(ClinicalDataError, match="outcome"):
        add_adverse_event(study, event(severity=Severity.DEATH))
    assert counts(study) == before
    assert [s.id for s in oxford_questionnaires(study)] == [record_id]
    assert [s.id for s in adverse_events(study)] == [event_id]
    assert_verifies(study)


def test_corrections_need_a_reason_and_are_audited_with_it(study: Database) -> None:
    record_id = add_oxford(study, record())
    with pytest.raises(ClinicalDataError, match="needs a reason"):
        correct_oxford(study, record_id, {"q3": 1}, reason="")
    corrected = correct_oxford(
        study, record_id, {"q3": 1, "q4": None, "source": "paper"}, reason="typo, paper form"
    )
    assert corrected.items_as_entered[2:4] == (1, None)
    assert corrected.score.total == 34  # 12 × (3·10 + 1) / 11 = 33.8 → 34
    last = audit_rows(study, "oxford_questionnaires")[-1]
    assert last["action"] == "correct"
    assert last["reason"] == "typo, paper form"
    assert json.loads(str(last["before"]))["q3"] == 3
    assert json.loads(str(last["after"]))["q4"] is None
    stored = oxford_questionnaires(study)[0].record
    assert stored == corrected
    assert_verifies(study)

    # Nothing to change: no audit event.
    before = counts(study)
    correct_oxford(study, record_id, {"q3": 1}, reason="again")
    assert counts(study) == before
    with pytest.raises(ClinicalDataError, match="cannot change colour"):
        correct_oxford(study, record_id, {"colour": "red"}, reason="x")
    with pytest.raises(ClinicalDataError, match="q1: 5 is outside 0–4"):
        correct_oxford(study, record_id, {"q1": 5}, reason="x")
    with pytest.raises(ClinicalDataError, match="no Oxford questionnaire"):
        correct_oxford(study, str(uuid.uuid4()), {"q1": 2}, reason="x")
    other_id = add_oxford(study, record(timepoint=Timepoint.TWELVE_MONTHS))
    with pytest.raises(ClinicalDataError, match="already recorded in another row"):
        correct_oxford(study, other_id, {"timepoint": "6m"}, reason="wrong visit")
    assert counts(study)[2] == before[2] + 1  # only the second questionnaire's creation

    event_id = add_adverse_event(study, event())
    fixed = correct_adverse_event(
        study, event_id, {"severity": "grade 2", "outcome": "recovered"}, reason="site query 17"
    )
    assert fixed.severity is Severity.MODERATE
    assert fixed.outcome is Outcome.RECOVERED
    last = audit_rows(study, "adverse_events")[-1]
    assert last["action"] == "correct"
    assert last["reason"] == "site query 17"
    with pytest.raises(ClinicalDataError, match="needs a reason"):
        correct_adverse_event(study, event_id, {"severity": "mild"}, reason=" ")
    with pytest.raises(ClinicalDataError, match="severity"):
        correct_adverse_event(study, event_id, {"severity": "enormous"}, reason="x")
    assert adverse_events(study)[0].event == fixed
    assert_verifies(study)


def test_verify_catches_a_clinical_row_changed_behind_the_programs_back(study: Database) -> None:
    add_oxford(study, record())
    assert study.path is not None
    with sqlite3.connect(study.path) as connection:
        connection.execute("UPDATE oxford_questionnaires SET q1 = 0")
    findings = verify_database(study.path)
    assert any(
        "oxford_questionnaires" in str(finding) and "q1" in str(finding) for finding in findings
    )
    assert clinical_findings(study) == [
        (
            f"oxford_questionnaires {oxford_questionnaires(study)[0].id}: content_sha256 does not "
            "match the row's data."
        )
    ]


# ---------------------------------------------------------------- refusals


def test_a_reader_database_and_a_missing_path_are_refused(tmp_path: Path) -> None:
    reader = open_database(tmp_path / "reader-A.sqlite", create=True, role="reader", reader_id="A")
    try:
        with pytest.raises(DatabaseError, match=r"reader database of reader 'A'.*study database"):
            import_oxford_csv(reader, write(tmp_path, GOOD_OXFORD, "o.csv"))
        with pytest.raises(DatabaseError, match="study database"):
            list_clinical(reader)
    finally:
        reader.close()
    with pytest.raises(DatabaseError, match="reader database"):
        open_study_database(tmp_path / "reader-A.sqlite")
    with pytest.raises(DatabaseError, match="no such study database"):
        open_study_database(tmp_path / "nowhere.sqlite")
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_scale_correction_must_keep_answers_valid(study: Database) -> None:
    record_id = add_oxford(study, record(items_as_entered=(0,) * 12))
    with pytest.raises(ClinicalDataError, match="outside 1–5"):
        correct_oxford(study, record_id, {"scale": "legacy-12-60"}, reason="was legacy")
    fixed = correct_oxford(
        study, record_id, {"scale": OxfordScale.LEGACY, "items": [5] * 12}, reason="was legacy"
    )
    assert fixed.score.total == 0
