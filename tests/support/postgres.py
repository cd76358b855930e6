"""A fresh PostgreSQL database per test module, dropped afterwards.

The server is the machine's local PostgreSQL (127.0.0.1:5432, trust auth) unless
`FEEDRELAY_TEST_PG` names another admin URL on loopback. When it is unreachable the tests skip
with the reason, except under CI=true, where they fail: CI must exercise PostgreSQL.

Use it in a test module with `from tests.support.postgres import pg_url  # noqa: F401`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = os.environ.get("FEEDRELAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def sqlalchemy_url(dbname: str) -> str:
    """The feedrelay `database:` URL (psycopg 3 driver) of database `dbname` on the test server."""
    info = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    user = info.get("user", "postgres")
    return f"postgresql+psycopg://{user}@{info.get('host', '127.0.0.1')}:{info.get('port', 5432)}/{dbname}"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI (where PostgreSQL must be there)."""
    message = f"PostgreSQL is not reachable at {ADMIN_URL}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def admin_connection() -> psycopg.Connection:
    """An autocommit connection to the admin database (for CREATE/DROP DATABASE, kills)."""
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)
        raise  # unreachable: skip/fail raise


@contextmanager
def fresh_database(prefix: str = "feedrelay_test") -> Iterator[str]:
    """Create an empty uniquely named database; yield its SQLAlchemy URL; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield sqlalchemy_url(name)
    finally:
        with admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def terminate_backends(url: str, *, application_name: str | None = None) -> int:
    """`pg_terminate_backend` every connection to the database of `url` (but this one); how many."""
    dbname = url.rsplit("/", 1)[1]
    query = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE datname = %s AND pid <> pg_backend_pid()")
    params: list[str] = [dbname]
    if application_name is not None:
        query += " AND application_name = %s"
        params.append(application_name)
    with admin_connection() as admin:
        return int(admin.execute(query, params).fetchone()[0])  # type: ignore[index]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test module (SQLAlchemy URL)."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"], name="database")
def either_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`database`: a URL, once a fresh SQLite file and once the module's PostgreSQL database
    (`pg_url`, shared by the module's tests: its feeds are deleted afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedrelay.db'}"
        return
    url = request.getfixturevalue("pg_url")
    yield url
    from store import models
    from store.db import open_database

    engine, sessions = open_database(url)
    with sessions.begin() as session:
        session.execute(models.Feed.__table__.delete())
    engine.dispose()

