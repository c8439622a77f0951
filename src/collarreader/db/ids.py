"""Deterministic UUIDs for rows that every database of one reading set shares.

A case, image, reader or reading gets ``uuid5(NAMESPACE, "<set_uuid>/<kind>/<part>/…")``: two
reader databases of the same set name the same case alike, and a second database of the same
reader reading the same case produces the same reading id, which a merge detects.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("5d1f0c1e-7c37-4f5e-9a43-5f3c0c0a11ad")
"""Namespace of collarreader's name-based UUIDs (fixed forever: merges depend on it)."""


def set_uuid5(set_uuid: str, kind: str, *parts: str) -> str:
    """The UUID of a reading-set row, as 36-character text.

    Parameters
    ----------
    set_uuid : the reading set's UUID
    kind : ``case``, ``image``, ``reader`` or ``reading``
    parts : the row's natural key (e.g. case code; case code and reader ID for a reading)
    """
    return str(uuid.uuid5(NAMESPACE, "/".join((set_uuid, kind, *parts))))
