"""Portable `INSERT … ON CONFLICT DO NOTHING` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any],
                  conflict: Sequence[str]) -> bool:
    """Insert a row unless one with the same `conflict` columns exists; True if inserted.

    Whether a row went in is read from `RETURNING`: the DBAPI row count is not reliable for this
    statement (psycopg 3 through SQLAlchemy reports -1).
    """
    insert = _DIALECTS[session.get_bind().dialect.name]
    statement = (insert(model).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
                 .returning(literal_column("1")))
    return session.execute(statement).first() is not None
