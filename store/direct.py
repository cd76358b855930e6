"""Hot statements run on the DBAPI cursor of the session's connection, as SQL written once.

Storing runs a few small statements for every new item (its row, story, keys, outbox rows).
SQLAlchemy's execution of each (compiled statement, execution context, result wrapping) cost
several times the database's own work, so these are written as SQL: `?` placeholders (made `%s`
for psycopg), each parameter bound as the column it fills or compares with binds it (datetimes,
JSON), so the rows are exactly those SQLAlchemy would write. A driver error is raised as
SQLAlchemy's (`DBAPIError`, the connection invalidated when it was lost), so `run_transaction`
retries it like any other. The statements run in the session's transaction; unlike
`Session.execute` they do not flush pending ORM changes first, so they are used only for rows
the ORM does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Processors = list[tuple[int, Callable[[Any], Any]]]


class Statement:
    """One SQL statement whose parameters fill (or compare with) `columns`, in order; a
    multi-row statement takes several rows' parameters one after another."""

    def __init__(self, sql: str, columns: Sequence[Column[Any]]) -> None:
        self.sql = sql
        self.columns = tuple(columns)
        self._processors: dict[str, Processors] = {}

    def run(self, session: Session, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Execute once; the rows it returns (RETURNING), if any."""
        connection = session.connection()
        dialect = connection.dialect
        return _execute(connection, _placeholders(self.sql, dialect.paramstyle), self._bound(dialect, parameters))

    def run_many(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Execute once per row of parameters (`executemany`; no result)."""
        if rows:
            connection = session.connection()
            dialect = connection.dialect
            _execute(connection, _placeholders(self.sql, dialect.paramstyle),
                     [self._bound(dialect, row) for row in rows], many=True)

    def _bound(self, dialect: Dialect, parameters: Sequence[Any]) -> Sequence[Any]:
        processors = self._processors.get(dialect.name)
        if processors is None:
            processors = self._processors[dialect.name] = [
                (position, process) for position, column in enumerate(self.columns)
                if (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
        if not processors:
            return parameters
        values = list(parameters)
        width = len(self.columns)
        for start in range(0, len(values), width):
            for position, process in processors:
                values[start + position] = process(values[start + position])
        return values


def execute(session: Session, sql: str, parameters: Any, *, many: bool = False) -> list[tuple[Any, ...]]:
    """Run `sql`, written for this session's driver (its placeholders, its parameter types), on
    the driver's cursor; the rows it returns, if any (none for `many`: `executemany`)."""
    return _execute(session.connection(), sql, parameters, many=many)


def _execute(connection: Connection, sql: str, parameters: Any, *, many: bool = False) -> list[tuple[Any, ...]]:
    dialect = connection.dialect
    dbapi_connection = connection.connection.driver_connection  # type: ignore[union-attr]
    cursor = dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
            return []
        cursor.execute(sql, parameters)
        return cursor.fetchall() if cursor.description else []
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(sql, parameters, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost,
                                  dialect=dialect) from exc
    finally:
        cursor.close()


@lru_cache(maxsize=256)
def insert(table: Table, names: tuple[str, ...], *, rows: int = 1, then: str = "") -> Statement:
    """`INSERT INTO table (names) VALUES …` for `rows` rows, followed by `then` (ON CONFLICT,
    RETURNING); built once per shape."""
    values = ", ".join(["(" + ", ".join("?" * len(names)) + ")"] * rows)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} {then}"
    return Statement(sql.rstrip(), [table.c[name] for name in names])


@cache
def _placeholders(sql: str, paramstyle: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")
