"""feeds.rules_hash: the cleaning and filtering rules a feed was last polled under, so that a change
of rules fetches the feed in full (a 304 would keep its stored items as the old rules left them)

Revision ID: 0006_feed_rules_hash
Revises: 0005_fingerprint_word_hashes
Create Date: 2026-11-28 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_feed_rules_hash"
down_revision = "0005_fingerprint_word_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules_hash", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("rules_hash")
