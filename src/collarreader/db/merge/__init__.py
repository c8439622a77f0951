"""``collarreader merge``: reader databases into one study database.

A merge copies each source's audit events verbatim (same ``db_id``, ``seq`` and hashes, so
each reader's chain verifies on its own in the study database) and brings the study's rows to
the state those events leave. The rules:

Validated
    A source must be an intact collarreader *reader* database: an SQLite file (magic bytes)
    that passes SQLite's ``quick_check``, with the tables, columns and identity of this
    collarreader, of the study's reading set and protocol, holding only its own chain and
    no changes to tables a reader does not write, and whose chain and rows verify as
    :func:`collarreader.db.verify.verify_database` checks them (hashes recomputed; every
    row's events link and end in the live row). Sources are opened read-only; in a large
    batch, worker processes check the next sources while one is being merged.
Atomic per source
    One transaction per source (``BEGIN IMMEDIATE`` on SQLite, a row lock on ``db_identity``
    on PostgreSQL): a source is merged completely or not at all. A refused source leaves the
    study database as it was and does not hold back the others; the call then raises
    :class:`~collarreader.errors.MergeError` naming every refused file and why, and what was
    merged. A new study database is created only for a source that is accepted.
Idempotent
    The study's own audit events tell what a source already brought: the tail of the source's
    chain (``db_id``) in the study. A source whose tail is already there adds nothing (not
    even a merge-log row).
Incremental
    A newer copy of a merged reader database (same ``db_id``, more events) brings only its new
    events, replayed in ``seq`` order onto the rows they name. The merged prefix must match
    hash for hash (the hash of the study's last event of that chain equals the source's event
    at the same ``seq``); otherwise the copy is refused, in words that say which side
    changed: when the study's copy of that chain no longer verifies (hashes, signatures
    against the pinned key), the *study database* no longer matches what it merged (from the
    first differing event on); when both histories are signed by the reader, the reader's
    database was restored from an older copy and continued.
Signed and anchored
    Every signature of a source must be its author's (``db_identity.public_key``) and its
    last event signed (:mod:`collarreader.db.signing`). A reader's key is pinned in
    ``reader_keys`` at the reader's first merge; a source with another key (or none) is
    refused naming both fingerprints. Each ``merge_log`` row records the merged head and the
    study lead's signature of it: the anchors ``verify`` checks (:mod:`collarreader.db.anchors`).
Conflicts
    Readings have deterministic ids (case and reader, :mod:`collarreader.db.ids`), so two
    databases of the same reader that read the same case hold the same reading id. A source
    whose readings the study already holds from another database is refused with the cases
    concerned.
Order-independent
    Rows only readers write (readings, calibrations, annotations, scores) belong to one chain.
    Rows every reader database of the set shares (readers, cases, images) take the ``after``
    of their latest event in the order ``at``, ``db_id``, ``seq`` over all chains — the rule
    :mod:`collarreader.db.verify` replays — so A then B equals B then A
    (:func:`canonical_dump`). A source's own ``db_identity`` row is not copied; its events
    stay in its chain.

SQLite targets take the source's rows with ``ATTACH`` + ``INSERT … SELECT`` (no Python per
row; shared rows are compared with the study's in SQL); PostgreSQL targets with
``COPY … FROM STDIN`` through psycopg. The SQLite target keeps its WAL journal and
``synchronous=FULL`` during a merge, so a merged source is on disk before the next one
starts (with ``NORMAL`` and one checkpoint at the end, a bare copy was at most 10–15 %
faster on the loaded reference machine: not worth a window in which a reported merge can
be lost). Each merged source adds one ``merge_log`` row (not audited): source UUID, file
name, counts of what the source holds, its last ``seq`` and hash, when.
"""

from collarreader.db.merge.batch import merge_databases
from collarreader.db.merge.common import OWNED_TABLES, SHARED_TABLES
from collarreader.db.merge.report import MergeReport, SourceOutcome, canonical_dump

__all__ = [
    "OWNED_TABLES",
    "SHARED_TABLES",
    "MergeReport",
    "SourceOutcome",
    "canonical_dump",
    "merge_databases",
]
