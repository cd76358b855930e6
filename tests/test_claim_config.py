"""Claiming follows the config: feeds removed from it or disabled there are not claimed, on
SQLite and PostgreSQL, and become claimable again once back; a 410 disable stays separate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from feedrelay.cli import main
from feedrelay.config import load_config
from feedrelay.items import utcnow
from feedrelay.pipeline import Relay
from store import models
from store.claim import claim_feeds
from store.retry import run_transaction
from tests.support.postgres import either_database, pg_url  # noqa: F401


def write_config(tmp_path: Path, database: str, feeds: list[str], disabled: frozenset[str] = frozenset()) -> Path:
    lines = [f"database: {database}", "http:", "  allow_private_networks: true", "  per_host: 10", "feeds:"]
    lines += [f"  - name: {name}\n    url: http://127.0.0.1:9/{name}.xml"
              + ("\n    enabled: false" if name in disabled else "") for name in feeds]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def claim_with(path: Path) -> list[str]:
    """Start a Relay on the config at `path` (it syncs the feed rows), claim, give the leases back."""
    with Relay(load_config(path)) as relay:
        claimed = sorted(relay.claim_due(10))
        relay.release_leases()
        return claimed


def claim_any(path: Path) -> list[str]:
    """Claim without a worker's name list: what the database itself marks as claimable."""
    with Relay(load_config(path)) as relay:
        claimed = run_transaction(relay.sessions, lambda session: sorted(claim_feeds(
            session, "other-worker", utcnow(), lease=timedelta(minutes=5), limit=10)))
        run_transaction(relay.sessions, lambda session: session.execute(
            update(models.Feed).values(lease_owner=None, lease_until=None)))
        return claimed


def test_removed_and_disabled_feeds_are_not_claimed_until_back(tmp_path: Path, database: str) -> None:
    path = write_config(tmp_path, database, ["a", "b", "c"])
    assert claim_with(path) == ["a", "b", "c"]

    write_config(tmp_path, database, ["b", "c"])  # a removed
    assert main(["-c", str(path), "feeds", "disable", "b"]) == 0
    assert claim_with(path) == ["c"]
    assert claim_any(path) == ["c"]

    write_config(tmp_path, database, ["a", "b", "c"], disabled=frozenset({"b"}))  # a back
    assert claim_with(path) == ["a", "c"]
    assert main(["-c", str(path), "feeds", "enable", "b"]) == 0
    assert claim_with(path) == ["a", "b", "c"]
    assert claim_any(path) == ["a", "b", "c"]


def test_gone_disable_is_cleared_only_by_feeds_enable(tmp_path: Path, database: str) -> None:
    path = write_config(tmp_path, database, ["a", "b"])
    assert claim_with(path) == ["a", "b"]
    with Relay(load_config(path)) as relay, relay.sessions.begin() as session:  # as after HTTP 410
        session.execute(update(models.Feed).where(models.Feed.name == "a")
                        .values(enabled=False, disabled_reason="gone"))

    write_config(tmp_path, database, ["b"])
    assert claim_with(path) == ["b"]
    write_config(tmp_path, database, ["a", "b"])  # removed and added again: still gone
    assert claim_with(path) == ["b"]
    assert main(["-c", str(path), "feeds", "enable", "a"]) == 0
    assert claim_with(path) == ["a", "b"]


def test_never_checked_feeds_come_first_then_the_longest_due(tmp_path: Path, database: str) -> None:
    path = write_config(tmp_path, database, ["a", "b", "c", "d", "e"])
    now = utcnow()
    with Relay(load_config(path)) as relay:
        with relay.sessions.begin() as session:
            for name, minutes in (("a", 1), ("c", 5), ("d", -5)):
                session.execute(update(models.Feed).where(models.Feed.name == name)
                                .values(next_check_at=now - timedelta(minutes=minutes)))
        order = [name for _ in range(5) for name in relay.claim_due(1)]
    assert order == ["b", "e", "c", "a"]  # d is not due yet
