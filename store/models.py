"""SQLAlchemy 2 models. Portable: the same models run on SQLite and PostgreSQL.

Schema changes go through alembic migrations in `store/migrations/versions/`;
`tests/test_migrations.py` checks that the migrations produce exactly these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of all feedrelay tables."""


class Feed(Base):
    """A source feed and its polling state."""

    __tablename__ = "feeds"
    # Claiming counts each host's live leases: an index reaches those few rows (see store.claim).
    __table_args__ = (Index("ix_feeds_lease_until", "lease_until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    config_url: Mapped[str] = mapped_column(Text)
    moved_from: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # In the config and enabled there, as of the last `Relay.sync_feeds`; only such feeds are claimed.
    configured: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_new_items: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    interval_s: Mapped[int | None] = mapped_column(Integer)
    guid_mode: Mapped[str] = mapped_column(String(10), default="guid")
    # The cleaning and filtering rules of the config that last synced it (`Relay.sync_feeds`): a
    # change clears the validators, so that the next poll cleans and filters the items again.
    rules_hash: Mapped[str | None] = mapped_column(String(40))
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Story(Base):
    """One article, however many feeds carried it; targets publish its representative."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    representative_item_id: Mapped[int | None] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Item(Base):
    """One entry of one feed, with its identity keys and the normalized value as JSON."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    guid: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    url_hash: Mapped[str | None] = mapped_column(String(80), index=True)
    source_hash: Mapped[str | None] = mapped_column(String(80), index=True)
    content_hash: Mapped[str] = mapped_column(String(40))
    raw_hash: Mapped[str | None] = mapped_column(String(40))  # before cleaning (see store.stories)
    text_hash: Mapped[str | None] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="active")
    filter_reason: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class StoryKey(Base):
    """A cross-feed exact identity key (canonical URL, source link, text hash) owned by one story.

    The primary key makes claiming a key race-free: two workers inserting the same key
    concurrently get one story.
    """

    __tablename__ = "story_keys"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)


class Merge(Base):
    """Why an item joined a story: the key or measure that matched and its score."""

    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """Outbox row: one story revision to one target, written with the revision."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("story_id", "target", "revision", name="uq_deliveries_story_target_rev"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_ref: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Publication(Base):
    """Where a story lives on a target (the remote post id), for updates and idempotency."""

    __tablename__ = "publications"

    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(100), primary_key=True)
    remote_ref: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lease(Base):
    """A named lease for singleton work (housekeeping, rendering) and per-host politeness."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime] = mapped_column(UTCDateTime)


class NearDupBand(Base):
    """One LSH band of an item's MinHash fingerprint (see `store.neardup`).

    The primary key (band, value, item_id) is the candidate index: a lookup per band, no scan.
    On SQLite the table is WITHOUT ROWID so the key is the table (no second copy).
    """

    __tablename__ = "neardup_bands"
    __table_args__ = {"sqlite_with_rowid": False}

    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
