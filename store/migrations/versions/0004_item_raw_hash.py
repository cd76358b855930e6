"""items.raw_hash: what the item looked like before cleaning, so an unchanged one is not cleaned again

Revision ID: 0004_item_raw_hash
Revises: 0003_feed_claiming
Create Date: 2026-11-27 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_item_raw_hash"
down_revision = "0003_feed_claiming"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_hash", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("raw_hash")
