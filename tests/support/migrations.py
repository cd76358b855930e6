"""Moving a test database's schema to a given alembic revision."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from store.db import alembic_config


def move_schema(engine: Engine, revision: str, *, up: bool = False) -> None:
    """Run the migrations on `engine` down (or, with `up`, up) to `revision`, in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.upgrade if up else command.downgrade)(config, revision)
