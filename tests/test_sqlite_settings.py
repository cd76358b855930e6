"""The SQLite engine's connection settings (WAL, checkpoints, foreign keys, busy timeout)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from store.db import WAL_CHECKPOINT_PAGES, open_database


def test_every_connection_gets_the_settings(tmp_path: Path) -> None:
    engine, _ = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        for _ in range(2):  # a second pooled connection too
            with engine.connect() as first, engine.connect() as second:
                for connection in (first, second):
                    settings = {name: connection.execute(text(f"PRAGMA {name}")).scalar()
                                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout",
                                             "wal_autocheckpoint")}
                    assert settings == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1,
                                        "busy_timeout": 30000, "wal_autocheckpoint": WAL_CHECKPOINT_PAGES}
    finally:
        engine.dispose()


def test_commits_below_the_checkpoint_size_stay_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine, _ = open_database(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        for n in range(80):  # ~40 pages a commit: by the default (1,000 pages) the WAL restarts near 1,000
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE IF NOT EXISTS pad (n INTEGER, body BLOB)"))
                connection.execute(text("INSERT INTO pad VALUES (:n, randomblob(160000))"), {"n": n})
        frames = (path.parent / "db.sqlite-wal").stat().st_size // 4120
        assert 2_500 < frames < WAL_CHECKPOINT_PAGES
    finally:
        engine.dispose()
