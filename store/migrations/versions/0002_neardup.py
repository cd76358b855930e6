"""near-duplicate band index

Revision ID: 0002_neardup
Revises: 0001_initial
Create Date: 2026-11-27 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_neardup"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "neardup_bands",
        sa.Column("band", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("band", "value", "item_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("neardup_bands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_neardup_bands_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("neardup_bands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_neardup_bands_item_id"))
    op.drop_table("neardup_bands")
