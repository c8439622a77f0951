"""Re-validation of every stored clinical row (``collarreader verify``'s clinical findings)."""

from __future__ import annotations

from collarreader.clinical.store.rows import (
    AE_ENTITY,
    OXFORD_ENTITY,
    _ae_from_state,
    _ae_natural_key,
    _all_states,
    _oxford_from_state,
)
from collarreader.db.clinical_models import ADVERSE_EVENT_TABLE, OXFORD_TABLE
from collarreader.db.engine import Database
from collarreader.errors import ClinicalDataError

__all__ = ["clinical_findings"]


def clinical_findings(database: Database) -> list[str]:
    """Re-validate every clinical row (values, vocabularies, content hashes, natural keys).

    ``collarreader verify`` already proves that each row is what its audit trail says; this
    checks that what was written is itself valid, e.g. after a manual repair. Returns one
    sentence per problem (empty: all good).
    """
    findings: list[str] = []
    with database.read() as connection:
        oxford_states = _all_states(connection, OXFORD_TABLE)
        ae_states = _all_states(connection, ADVERSE_EVENT_TABLE)
    for state in oxford_states:
        try:
            record = _oxford_from_state(state)
        except (ClinicalDataError, ValueError) as error:
            findings.append(f"{OXFORD_ENTITY} {state['id']}: {error}")
            continue
        if record.content_sha256 != state["content_sha256"]:
            findings.append(
                f"{OXFORD_ENTITY} {state['id']}: content_sha256 does not match the row's data."
            )
    for state in ae_states:
        try:
            event = _ae_from_state(state)
        except (ClinicalDataError, ValueError) as error:
            findings.append(f"{AE_ENTITY} {state['id']}: {error}")
            continue
        if event.content_sha256 != state["content_sha256"]:
            findings.append(
                f"{AE_ENTITY} {state['id']}: content_sha256 does not match the row's data."
            )
        if _ae_natural_key(event) != state["natural_key"]:
            findings.append(
                f"{AE_ENTITY} {state['id']}: natural_key does not match the row's data."
            )
    return findings
