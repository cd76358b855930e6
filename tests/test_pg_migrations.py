"""The same alembic migrations build exactly the models' schema on PostgreSQL (psycopg 3)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from store.db import open_database
from store.models import Base
from tests.support.migrations import move_schema
from tests.support.postgres import fresh_database


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
