"""Portable `INSERT … ON CONFLICT DO NOTHING` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any],
                  conflict: Sequence[str]) -> bool:
    """Insert a row unless one with the same `conflict` columns exists; True if inserted."""
    insert = _DIALECTS[session.get_bind().dialect.name]
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    return session.execute(statement).rowcount == 1
