"""Opening the database: engine settings per backend and migrations applied on start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from store.retry import retrying

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x66656564_6D696772  # "feedmigr": a PostgreSQL advisory lock key
WAL_CHECKPOINT_PAGES = 10_000  # SQLite: checkpoint when the WAL holds this many pages
# The head revisions of store/migrations/versions (tests/test_schema_heads.py checks them): a database
# already there needs no migration, and then alembic, a large import, is not loaded at all.
SCHEMA_HEADS = frozenset({"0006_feed_rules_hash"})


def create_db_engine(url: str) -> Engine:
    """An engine for `url`: SQLite in WAL mode with a busy timeout, others with pre-ping."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Near-duplicate band rows land on random index pages (~35 per new item), so the
            # default checkpoint every 1,000 WAL pages ran every few feeds and doubled the cost of
            # a commit; every 10,000 pages (a WAL of up to ~40 MB) copies hot pages once per many.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class StoreUnavailable(Exception):
    """The database a reading command needs is missing or not at this version's schema."""


def open_existing_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """`open_database` for commands that only read (`status`, `explain`): the database must exist
    at this version's schema. Creating or upgrading it is the daemon's and `fetch`'s job; a reader
    doing it would make a stray database out of a mistyped path, or migrate a schema under a
    running older daemon."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        raise StoreUnavailable(f"no database at {parsed.database} (`feedrelay fetch` or `feedrelay run` creates it)")
    engine, sessions = open_database(url, upgrade=False)
    with engine.connect() as connection:
        found = schema_revisions(connection)
    if found != SCHEMA_HEADS:
        engine.dispose()
        where = f"at {', '.join(sorted(found))}" if found else "without feedrelay's tables"
        raise StoreUnavailable(f"the database is {where}; this feedrelay needs {', '.join(sorted(SCHEMA_HEADS))} "
                               "(`feedrelay fetch` or `feedrelay run` upgrades it)")
    return engine, sessions


def alembic_config() -> Config:
    """The alembic configuration of feedrelay's migrations (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_revisions(connection: Connection) -> frozenset[str]:
    """The revisions alembic recorded in this database (none when it was never migrated)."""
    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    return frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def migrate(engine: Engine) -> None:
    """Bring the schema up to date (all migration heads); alembic runs only when it is behind."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # workers starting together migrate one at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if schema_revisions(connection) == SCHEMA_HEADS:
            return
        from alembic import command

        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def open_database(url: str, *, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """Create the engine for `url`, apply migrations (each attempt in one transaction, retried
    like `run_transaction`), and return it with a session factory."""
    engine = create_db_engine(url)
    if upgrade:  # a connection dropped while starting (a server restarting) is tried again
        retrying(lambda: migrate(engine))
    return engine, sessionmaker(engine, expire_on_commit=False)
