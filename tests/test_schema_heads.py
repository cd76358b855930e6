"""`open_database` runs alembic only when the schema is behind: `store.db.SCHEMA_HEADS` must name the
migrations' heads, an up-to-date database opens without loading alembic, one behind is upgraded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.db import SCHEMA_HEADS, alembic_config, open_database, schema_revisions
from store.models import Base
from tests.support.migrations import move_schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_heads_are_the_migrations_heads() -> None:
    assert frozenset(ScriptDirectory.from_config(alembic_config()).get_heads()) == SCHEMA_HEADS


def test_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    open_database(url)[0].dispose()
    code = ("import sys; from store.db import open_database; engine, _ = open_database(sys.argv[1]); "
            "engine.dispose(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_database_behind_is_upgraded(tmp_path: Path) -> None:
    engine, _ = open_database(f"sqlite:///{tmp_path / 'behind.db'}")
    move_schema(engine, "0002_neardup")
    with engine.connect() as connection:
        assert schema_revisions(connection) == {"0002_neardup"}
    engine.dispose()

    engine, _ = open_database(f"sqlite:///{tmp_path / 'behind.db'}")
    with engine.connect() as connection:
        assert schema_revisions(connection) == SCHEMA_HEADS
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_empty_database_has_no_revisions(tmp_path: Path) -> None:
    engine, _ = open_database(f"sqlite:///{tmp_path / 'empty.db'}", upgrade=False)
    with engine.connect() as connection:
        assert schema_revisions(connection) == frozenset()
    engine.dispose()
