"""Hot statements run straight on the DBAPI cursor of the session's connection.

Storing runs a few small statements for every new item (its story, its keys, its outbox rows).
SQLAlchemy's execution of each (execution context, parameter processing, result wrapping) cost
about ten times the database's own work, so these are written as SQL once: `?` placeholders
(made `%s` for psycopg), datetimes turned into what the column type itself binds, so the rows
are exactly those SQLAlchemy would write. They run in the session's transaction; unlike
`Session.execute` they do not flush pending ORM changes first, so they are used only for rows
the ORM does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from store.models import UTCDateTime

Row = Sequence[Any]


class Statement:
    """One SQL statement; `datetimes` are the positions of its datetime parameters."""

    def __init__(self, sql: str, *, datetimes: Sequence[int] = ()) -> None:
        self.sql = sql
        self.datetimes = tuple(datetimes)

    def run(self, session: Session, parameters: Row) -> list[tuple[Any, ...]]:
        """Execute with one row of parameters; the rows it returns (RETURNING), if any."""
        cursor, dialect = _cursor(session)
        cursor.execute(_placeholders(self.sql, dialect.paramstyle), self._bound(dialect, parameters))
        return cursor.fetchall() if cursor.description else []

    def run_many(self, session: Session, rows: Sequence[Row]) -> None:
        """Execute once per row of parameters (`executemany`; no result)."""
        if rows:
            cursor, dialect = _cursor(session)
            cursor.executemany(_placeholders(self.sql, dialect.paramstyle),
                               [self._bound(dialect, row) for row in rows])

    def _bound(self, dialect: Dialect, parameters: Row) -> Row:
        if not self.datetimes:
            return parameters
        bind = _BINDERS.get(dialect.name) or _BINDERS.setdefault(dialect.name, _datetime_binder(dialect))
        values = list(parameters)
        for position in self.datetimes:
            values[position] = bind(values[position])
        return values


def values_rows(columns: int, count: int) -> str:
    """`(?, ?), (?, ?)` for `count` rows of `columns` parameters."""
    return ", ".join(["(" + ", ".join("?" * columns) + ")"] * count)


def _cursor(session: Session) -> tuple[Any, Dialect]:
    connection = session.connection()
    return connection.connection.driver_connection.cursor(), connection.dialect  # type: ignore[union-attr]


@cache
def _placeholders(sql: str, paramstyle: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


_BINDERS: dict[str, Callable[[datetime | None], Any]] = {}  # per dialect name


def _datetime_binder(dialect: Dialect) -> Callable[[datetime | None], Any]:
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)
