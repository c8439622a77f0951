"""Re-validation of every stored clinical row (``collarreader verify``'s clinical findings)."""

from __future__ import annotations

from typing import Any

from collarreader.clinical.store.rows import AE_ROWS, OXFORD_ROWS, R, RowKind, all_states
from collarreader.db.engine import Database
from collarreader.errors import ClinicalDataError

__all__ = ["clinical_findings"]


def clinical_findings(database: Database) -> list[str]:
    """Re-validate every clinical row (values, vocabularies, content hashes, natural keys).

    ``collarreader verify`` already proves that each row is what its audit trail says; this
    checks that what was written is itself valid, e.g. after a manual repair. Returns one
    sentence per problem (empty: all good).
    """
    with database.read() as connection:
        oxford_states = all_states(connection, OXFORD_ROWS.table)
        ae_states = all_states(connection, AE_ROWS.table)
    return [
        *_findings(OXFORD_ROWS, oxford_states, ("content_sha256",)),
        *_findings(AE_ROWS, ae_states, ("content_sha256", "natural_key")),
    ]


def _findings(
    kind: RowKind[R], states: list[dict[str, Any]], derived: tuple[str, ...]
) -> list[str]:
    """The problems of the rows of one kind; ``derived`` columns are computed from the data."""
    findings: list[str] = []
    for state in states:
        try:
            record = kind.from_state(state)
        except (ClinicalDataError, ValueError) as error:
            findings.append(f"{kind.entity} {state['id']}: {error}")
            continue
        values = kind.values(record)
        findings.extend(
            f"{kind.entity} {state['id']}: {column} does not match the row's data."
            for column in derived
            if values[column] != state[column]
        )
    return findings
