"""The alembic migrations build exactly the schema `store.models` describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from store.db import open_database
from store.models import Base


def test_migrations_match_models(tmp_path) -> None:
    engine, _ = open_database(f"sqlite:///{tmp_path / 'schema.db'}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_band_index_has_no_rowid_on_sqlite(tmp_path) -> None:
    engine, _ = open_database(f"sqlite:///{tmp_path / 'bands.db'}")
    with engine.connect() as connection:
        sql = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'neardup_bands'").scalar_one()
        assert "WITHOUT ROWID" in sql
        assert "ix_neardup_bands_item_id" in {i["name"] for i in inspect(connection).get_indexes("neardup_bands")}
    engine.dispose()
