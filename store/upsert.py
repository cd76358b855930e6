"""Portable `INSERT … ON CONFLICT DO NOTHING / DO UPDATE` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any],
                  conflict: Sequence[str], returning: str | None = None) -> Any:
    """Insert a row unless one with the same `conflict` columns exists; True if inserted.

    With `returning` (a column name), the inserted row's value of that column instead of True,
    None when nothing went in. Whether a row went in is read from `RETURNING`: the DBAPI row
    count is not reliable for this statement (psycopg 3 through SQLAlchemy reports -1).
    """
    statement = insert_ignore_statement(session.get_bind().dialect.name, model.__table__, tuple(conflict),
                                        returning or "1")
    value = session.execute(statement, values).scalar()
    return value if returning else value is not None


def upsert_many(session: Session, model: type[Any], rows: list[dict[str, Any]], conflict: Sequence[str],
                updated: Sequence[str]) -> None:
    """Insert each row, or where one with the same `conflict` columns exists, set its `updated`
    columns to the row's values (`INSERT … ON CONFLICT DO UPDATE`); rows apply in order."""
    if rows:
        session.execute(_upsert_statement(session.get_bind().dialect.name, model.__table__, tuple(conflict),
                                          tuple(updated)), rows)


@cache
def _upsert_statement(dialect: str, table: Table, conflict: tuple[str, ...], updated: tuple[str, ...]) -> Insert:
    statement = _DIALECTS[dialect](table)
    return statement.on_conflict_do_update(index_elements=list(conflict),
                                           set_={name: statement.excluded[name] for name in updated})


@cache
def insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...], returning: str) -> Insert:
    """The Core statement, built once per table and conflict columns; values come as parameters
    (building the ORM statement per row cost more than running it). `returning`: a column name,
    or "1" for `RETURNING 1`."""
    statement = _DIALECTS[dialect](table).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(literal_column("1") if returning == "1" else table.c[returning])
