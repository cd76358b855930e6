"""feeds.configured marker and lease_until index for cheap claiming

Revision ID: 0003_feed_claiming
Revises: 0002_neardup
Create Date: 2026-11-27 12:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_feed_claiming"
down_revision = "0002_neardup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("configured", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index("ix_feeds_lease_until", ["lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_feeds_lease_until")
        batch_op.drop_column("configured")
