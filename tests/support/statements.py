"""Every SQL statement a block of code runs on an engine: those SQLAlchemy executes (its cursor
events) and those `store.direct` runs on the driver's cursor, which SQLAlchemy does not see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from store import direct


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL text of each statement run on `engine` inside the block, in order."""
    seen: list[str] = []

    def on_cursor(connection, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    original = direct.execute

    def run_direct(session: Session, sql: str, parameters: Any, *, many: bool = False) -> list[tuple[Any, ...]]:
        if session.get_bind() is engine:
            seen.append(sql)
        return original(session, sql, parameters, many=many)

    event.listen(engine, "before_cursor_execute", on_cursor)
    try:
        with mock.patch.object(direct, "execute", run_direct):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_cursor)


def writes(statements: list[str]) -> list[str]:
    """The INSERT, UPDATE and DELETE statements among `statements`."""
    return [s for s in statements if s.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")]
