"""One problem ``verify`` found (shared by :mod:`~collarreader.db.verify` and its parts)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a database.

    Attributes
    ----------
    check : ``integrity``, ``foreign_key``, ``schema``, ``identity``, ``chain``, ``replay``,
        ``signature``, ``anchor`` or ``receipt``
    message : what is wrong, as a sentence naming the row or event
    entity, entity_id : the table and row concerned, when one is
    """

    check: str
    message: str
    entity: str | None = None
    entity_id: str | None = None

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        """The finding for ``verify --json``: check, message, entity, entity_id."""
        return {
            "check": self.check,
            "message": self.message,
            "entity": self.entity,
            "entity_id": self.entity_id,
        }
