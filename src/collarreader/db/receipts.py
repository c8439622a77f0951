"""``verify --receipt`` and ``verify --against``: receipts of a database's signed head.

See :mod:`collarreader.db.anchors` for what a receipt holds and proves.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from collarreader.db.anchors import Receipt, check_receipt, make_receipt, parse_receipt
from collarreader.db.findings import Finding
from collarreader.db.models import DbIdentity
from collarreader.db.verify import read_only
from collarreader.errors import ReceiptError


def database_receipt(path_or_url: str | Path) -> Receipt:
    """The receipt of the database's own signed chain head (read-only).

    Raises
    ------
    ReceiptError
        When the database records no key or its last event is not signed by it.
    """
    with read_only(path_or_url) as (connection, _is_sqlite):
        return make_receipt(connection, str(path_or_url))


def read_receipt(path: str | Path) -> Receipt:
    """A receipt file, parsed and its own signature checked."""
    path = Path(path)
    if path.is_dir():
        message = f"{path}: a folder; give the receipt file (the text 'verify --receipt' printed)."
        raise ReceiptError(message)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        message = f"{path}: the receipt cannot be read ({error}). Check the path."
        raise ReceiptError(message) from None
    return parse_receipt(content, str(path))


def verify_against(path_or_url: str | Path, receipt: Receipt) -> list[Finding]:
    """Findings when the database no longer holds the head the receipt vouches for."""
    with read_only(path_or_url) as (connection, _is_sqlite):
        own_id = connection.execute(select(DbIdentity.__table__.c.id)).scalar_one_or_none()
        return check_receipt(connection, receipt, None if own_id is None else str(own_id))
