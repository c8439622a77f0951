"""Signatures, anchors and receipts: what ``verify`` checks beyond the hash chains.

The hash chain alone catches careless edits only: anyone with the file and the source can
re-hash it. Signatures (:mod:`collarreader.db.signing`) and anchors close that:

Signatures
    Every chain that has a key must verify against it: the database's own chain against
    ``db_identity.public_key``; a merged reader's chain (in a study database) against the key
    the study pinned at that reader's first merge (``reader_keys``). Every stored signature
    must be the key's signature of its event's ``(db_id, seq, hash)``, and the chain's last
    event must be signed (events after the last signature were written without the key).
Anchors
    Each ``merge_log`` row records the chain head a merge brought (``last_seq``,
    ``last_hash``), signed by the study lead. The study's copy of that chain must still
    hold that event with that hash: a study database whose merged history was changed or
    cut short no longer matches what it merged.
Receipts
    A short text (database UUID, author, sequence, head hash, public key, signature) a reader
    sends with their file; ``verify DB --against RECEIPT`` checks a database still holds that
    head and that the receipt is signed by the key the database records for the chain.

What this does not detect: an author re-signing their own work before anyone merged it or
kept a receipt of it (the author holds the key).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, inspect, text

from collarreader.db.audit import HASHED_FIELDS, event_hash
from collarreader.db.findings import Finding
from collarreader.db.signing import fingerprint, head_verifier, signature_valid
from collarreader.errors import ReceiptError

_MAX_PER_CHAIN = 20
RECEIPT_HEADER = "collarreader receipt 1"


@dataclass(frozen=True)
class Anchor:
    """A chain head recorded by a merge (one ``merge_log`` row)."""

    db_id: str
    label: str
    last_seq: int
    last_hash: str
    public_key: str | None
    signature: str | None


def chain_keys(connection: Connection, own_id: str | None) -> dict[str, str | None]:
    """The key each chain must verify against: own chain → identity key, merged → pinned."""
    keys: dict[str, str | None] = {}
    if own_id is not None:
        keys[own_id] = connection.execute(
            text("SELECT public_key FROM db_identity WHERE id = :id"), {"id": own_id}
        ).scalar_one_or_none()
    if not inspect(connection).has_table("reader_keys"):
        return keys
    pins: dict[str, str] = {
        str(row[0]): str(row[1])
        for row in connection.execute(text("SELECT reader_id, public_key FROM reader_keys"))
    }
    for db_id, reader_id in connection.execute(
        text("SELECT DISTINCT source_db_id, reader_id FROM merge_log")
    ):
        keys[str(db_id)] = pins.get(reader_id)
    return keys


def anchors(connection: Connection) -> list[Anchor]:
    """Every merge-log row, as anchors (empty before revision 0005 or without merges)."""
    if not inspect(connection).has_table("merge_log"):
        return []
    columns = {column["name"] for column in inspect(connection).get_columns("merge_log")}
    if "signature" not in columns:
        return []
    rows = connection.execute(
        text(
            "SELECT source_db_id, source_label, last_seq, last_hash, public_key, signature "
            "FROM merge_log ORDER BY source_db_id, last_seq"
        )
    )
    return [Anchor(str(r[0]), str(r[1]), int(r[2]), str(r[3]), r[4], r[5]) for r in rows]


def check_signatures(connection: Connection, own_id: str | None) -> list[Finding]:
    """Signatures of every chain against its key, and the study's anchors (see module doc)."""
    columns = {column["name"] for column in inspect(connection).get_columns("audit_events")}
    if "signature" not in columns:
        return []  # an older schema: verify reports the revision
    keys = chain_keys(connection, own_id)
    findings: list[Finding] = []
    for db_id, events in _chains(connection):
        findings.extend(_check_chain(db_id, events, keys.get(db_id), is_own=db_id == own_id))
    own_key = keys.get(own_id) if own_id is not None else None
    if own_id is not None and own_key is None:
        # Creation and every upgrade to this schema record the key: none is left only by
        # someone who removed it (with the signatures) to pass the file off as unsigned.
        findings.append(
            Finding(
                "signature",
                "db_identity records no author key, although this collarreader records one "
                "when it creates or upgrades a database: the key (and the signatures) were "
                "removed.",
            )
        )
    findings.extend(_check_anchors(connection, anchors(connection), own_key))
    return findings


def _chains(connection: Connection) -> Iterator[tuple[str, Iterator[Any]]]:
    """Each chain's events, streamed in ``(db_id, seq)`` order: memory stays bounded."""
    rows = connection.execution_options(yield_per=5000).execute(
        text(
            "SELECT db_id, seq, hash, signature, entity, entity_id FROM audit_events "
            "ORDER BY db_id, seq"
        )
    )
    for db_id, events in itertools.groupby(rows, key=lambda row: row[0]):
        yield str(db_id), events


def _check_chain(
    db_id: str, events: Iterator[Any], key: str | None, *, is_own: bool
) -> list[Finding]:
    findings: list[Finding] = []
    whose = "this database's" if is_own else f"merged database {db_id}'s"
    last_signed, tail, signed_any = 0, 0, False
    valid = None if key is None else head_verifier(key)
    for _db, seq, head, signature, entity, entity_id in events:
        tail = int(seq)
        if signature is None:
            continue
        signed_any = True
        if valid is None or key is None:
            continue
        if valid(db_id, tail, str(head), str(signature)):
            last_signed = tail
        elif len(findings) < _MAX_PER_CHAIN:
            findings.append(
                Finding(
                    "signature",
                    f"audit event {tail} of {whose} chain ({entity} {entity_id}): its signature "
                    f"is not the author's (key {fingerprint(key)}) for this event: events "
                    f"{last_signed + 1}–{tail} were changed after they were signed (and "
                    "re-hashed), or the signature was copied from another event.",
                    entity=str(entity),
                    entity_id=str(entity_id),
                )
            )
    if key is None:
        if signed_any:
            findings.append(
                Finding(
                    "signature",
                    f"{whose} chain carries signatures but no key to check them "
                    "(db_identity.public_key or the study's pinned key is missing).",
                )
            )
        return findings
    if last_signed < tail:
        first = last_signed + 1
        span = f"event {tail}" if first == tail else f"events {first}–{tail}"
        findings.append(
            Finding(
                "signature",
                f"audit {span} of {whose} chain are not signed by the author (key "
                f"{fingerprint(key)}): written without the author's key, or changed after "
                "signing.",
            )
        )
    return findings


def _event_hash(connection: Connection, db_id: str, seq: int) -> str | None:
    """The stored hash of event ``seq`` of database ``db_id``; None when it is not held."""
    held: str | None = connection.execute(
        text("SELECT hash FROM audit_events WHERE db_id = :d AND seq = :s"),
        {"d": db_id, "s": seq},
    ).scalar_one_or_none()
    return held


def _last_seq(connection: Connection, db_id: str) -> int | None:
    """The highest event number held for database ``db_id`` (None: none held)."""
    tail: int | None = connection.execute(
        text("SELECT max(seq) FROM audit_events WHERE db_id = :d"), {"d": db_id}
    ).scalar_one_or_none()
    return tail


def _check_anchors(
    connection: Connection, found: list[Anchor], own_key: str | None
) -> list[Finding]:
    findings: list[Finding] = []
    for anchor in found:
        held = _event_hash(connection, anchor.db_id, anchor.last_seq)
        if held is None:
            tail = _last_seq(connection, anchor.db_id)
            findings.append(
                Finding(
                    "anchor",
                    f"the merge of {anchor.label} brought database {anchor.db_id} up to event "
                    f"{anchor.last_seq}, but the study database holds its events only up to "
                    f"{tail or 0}: the study database no longer matches what it merged "
                    "(events removed after the merge). Restore it from a backup and merge again.",
                )
            )
        elif held != anchor.last_hash:
            first = _first_mismatch(connection, anchor)
            findings.append(
                Finding(
                    "anchor",
                    f"the study database no longer matches what it merged from {anchor.label} "
                    f"(database {anchor.db_id}): event {first} differs from the merged history "
                    f"whose head was event {anchor.last_seq}. Restore the study database from a "
                    "backup and merge the reader databases again.",
                )
            )
        if own_key is not None and anchor.signature is not None:
            if not signature_valid(
                own_key, anchor.db_id, anchor.last_seq, anchor.last_hash, anchor.signature
            ):
                findings.append(
                    Finding(
                        "anchor",
                        f"the merge-log record of {anchor.label} (database {anchor.db_id}, "
                        f"event {anchor.last_seq}) is not signed by the study lead's key: it "
                        "was changed after the merge.",
                    )
                )
        elif own_key is not None:
            findings.append(
                Finding(
                    "anchor",
                    f"the merge-log record of {anchor.label} (database {anchor.db_id}, event "
                    f"{anchor.last_seq}) carries no study-lead signature.",
                )
            )
    return findings


def _first_mismatch(connection: Connection, anchor: Anchor) -> int:
    """The first event whose ``prev_hash`` link no longer leads to the anchored head.

    Walking back from the anchor is impossible (the head is gone); the best evidence is the
    first event whose stored hash no longer recomputes or links, found by the chain check.
    Here: the lowest ``seq`` whose ``prev_hash`` differs from the previous ``hash``, or whose
    hash is not what the chain check recomputes; falls back to the anchor's own ``seq``.
    """
    columns = ", ".join(f'"{name}"' for name in (*HASHED_FIELDS, "prev_hash", "hash"))
    previous = None
    for row in connection.execute(
        text(
            f"SELECT {columns} FROM audit_events WHERE db_id = :d AND seq <= :s "  # noqa: S608
            "ORDER BY seq"
        ),
        {"d": anchor.db_id, "s": anchor.last_seq},
    ):
        values = dict(row._mapping)
        linked = previous is None or values["prev_hash"] == previous
        if not linked or event_hash(values["prev_hash"], values) != values["hash"]:
            return int(values["seq"])
        previous = values["hash"]
    return anchor.last_seq


# ------------------------------------------------------------------------------ receipts


@dataclass(frozen=True)
class Receipt:
    """What a database's author vouches for at one moment (see the module docstring)."""

    db_id: str
    author: str
    seq: int
    head: str
    public_key: str
    signature: str

    def __str__(self) -> str:
        return "\n".join(
            [
                RECEIPT_HEADER,
                f"database: {self.db_id}",
                f"author: {self.author}",
                f"sequence: {self.seq}",
                f"head: {self.head}",
                f"key: {self.public_key}",
                f"fingerprint: {fingerprint(self.public_key)}",
                f"signature: {self.signature}",
            ]
        )


def make_receipt(connection: Connection, label: str) -> Receipt:
    """The receipt of a database's own chain head (it must be signed)."""
    identity = connection.execute(text("SELECT id, reader_id, public_key FROM db_identity")).first()
    if identity is None or identity[2] is None:
        message = (
            f"{label}: no author key recorded; open it once with this collarreader (the "
            "upgrade records the key), then ask for the receipt again."
        )
        raise ReceiptError(message)
    db_id, author, key = str(identity[0]), identity[1] or "study-lead", str(identity[2])
    tail = connection.execute(
        text(
            "SELECT seq, hash, signature FROM audit_events WHERE db_id = :d "
            "ORDER BY seq DESC LIMIT 1"
        ),
        {"d": db_id},
    ).first()
    if (
        tail is None
        or tail[2] is None
        or not signature_valid(key, db_id, int(tail[0]), str(tail[1]), str(tail[2]))
    ):
        message = (
            f"{label}: its last audit event is not signed by its author's key; run "
            f"'collarreader verify {label}' for the findings."
        )
        raise ReceiptError(message)
    return Receipt(db_id, str(author), int(tail[0]), str(tail[1]), key, str(tail[2]))


def parse_receipt(content: str, label: str) -> Receipt:
    """Read a receipt's text; ``ReceiptError`` naming the file when it is not one."""
    lines = [line.strip() for line in content.strip().splitlines() if line.strip()]
    if not lines or lines[0] != RECEIPT_HEADER:
        message = f"{label}: not a collarreader receipt (first line {RECEIPT_HEADER!r})."
        raise ReceiptError(message)
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    try:
        receipt = Receipt(
            fields["database"],
            fields["author"],
            int(fields["sequence"]),
            fields["head"],
            fields["key"],
            fields["signature"],
        )
    except (KeyError, ValueError) as error:
        message = f"{label}: the receipt lacks or garbles {error}; ask for it again."
        raise ReceiptError(message) from None
    if not signature_valid(
        receipt.public_key, receipt.db_id, receipt.seq, receipt.head, receipt.signature
    ):
        message = (
            f"{label}: the receipt's signature does not match its own content; it was changed "
            "after it was made. Ask the author for it again."
        )
        raise ReceiptError(message)
    return receipt


def check_receipt(connection: Connection, receipt: Receipt, own_id: str | None) -> list[Finding]:
    """Whether the database still holds what the receipt vouches for; findings if not."""
    keys = chain_keys(connection, own_id)
    findings: list[Finding] = []
    if receipt.db_id not in keys:
        holds = connection.execute(
            text("SELECT count(*) FROM audit_events WHERE db_id = :d"), {"d": receipt.db_id}
        ).scalar_one()
        if not holds:
            return [
                Finding(
                    "receipt",
                    f"the receipt is for database {receipt.db_id} ({receipt.author}), which "
                    "this database neither is nor has merged.",
                )
            ]
    key = keys.get(receipt.db_id)
    if key is not None and key != receipt.public_key:
        findings.append(
            Finding(
                "receipt",
                f"the receipt is signed by key {fingerprint(receipt.public_key)}, but this "
                f"database records key {fingerprint(key)} for {receipt.author}.",
            )
        )
    held = _event_hash(connection, receipt.db_id, receipt.seq)
    if held is None:
        tail = _last_seq(connection, receipt.db_id)
        findings.append(
            Finding(
                "receipt",
                f"the receipt vouches for event {receipt.seq} of database {receipt.db_id}, but "
                f"the database holds its events only up to {tail or 0} (events removed).",
            )
        )
    elif held != receipt.head:
        findings.append(
            Finding(
                "receipt",
                f"event {receipt.seq} of database {receipt.db_id} is not the event the receipt "
                "vouches for: the database no longer matches what its author signed.",
            )
        )
    return findings
