"""The same alembic migrations build exactly the models' schema on PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
import time

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from store.db import MIGRATION_LOCK_KEY, SCHEMA_HEADS, open_database, schema_revisions
from store.models import Base
from tests.support.migrations import move_schema
from tests.support.postgres import admin_connection, fresh_database


def test_migrations_match_models_on_postgres() -> None:
    with fresh_database() as url:
        engine, _ = open_database(url)
        try:
            assert engine.dialect.driver == "psycopg"
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
                assert {"feeds", "items", "stories", "story_keys", "deliveries", "leases"} <= set(
                    inspect(connection).get_table_names())
        finally:
            engine.dispose()


def test_migrations_downgrade_and_upgrade_again_on_postgres() -> None:
    with fresh_database() as url:
        engine, _ = open_database(url)
        try:
            move_schema(engine, "base")
            with engine.connect() as connection:
                assert "feeds" not in inspect(connection).get_table_names()
            open_database(url)[0].dispose()  # upgrades again
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()


def test_a_connection_dropped_while_migrating_on_start_is_tried_again() -> None:
    # A worker starting while the server drops connections (a restart, an operator's
    # pg_terminate_backend) must not die: the migration transaction is run again.
    with fresh_database() as url:
        dbname = url.rsplit("/", 1)[1]
        holder = create_engine(url)
        opened: list[object] = []
        try:
            with holder.begin() as connection:  # holds the migration lock: the starting worker waits on it
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                starting = threading.Thread(target=lambda: opened.append(_open_or_error(url)))
                starting.start()
                waiting_query = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                                 "AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
                deadline, killed = time.monotonic() + 30, 0
                while not killed and time.monotonic() < deadline:
                    time.sleep(0.05)
                    with admin_connection() as admin:
                        killed = int(admin.execute(waiting_query, [dbname]).fetchone()[0])  # type: ignore[index]
                assert killed == 1
            starting.join(60)
        finally:
            holder.dispose()
        assert len(opened) == 1 and not isinstance(opened[0], Exception), opened
        with opened[0].connect() as connection:  # type: ignore[attr-defined]
            assert schema_revisions(connection) == SCHEMA_HEADS
        opened[0].dispose()  # type: ignore[attr-defined]


def _open_or_error(url: str) -> object:
    try:
        return open_database(url)[0]
    except Exception as exc:  # noqa: BLE001 (handed to the test thread)
        return exc
