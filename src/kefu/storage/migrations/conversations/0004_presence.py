"""When each person of the staff was last at work (the inbox open, the staff API used), so
that kefu calls a person only when someone is there; and the waiting queue by state.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("last_seen", sa.Float, nullable=False,
                                     server_default="0"))
    op.create_index("sessions_by_state", "sessions", ["state"])


def downgrade() -> None:
    op.drop_index("sessions_by_state", "sessions")
    with op.batch_alter_table("staff") as staff:
        staff.drop_column("last_seen")
