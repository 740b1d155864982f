"""The customer's rating of a whole conversation: 1 to 5 stars and a comment.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("ratings",
                    sa.Column("session_id", sa.Text, primary_key=True),
                    sa.Column("stars", sa.Integer),
                    sa.Column("comment", sa.Text),
                    sa.Column("created", sa.Float))


def downgrade() -> None:
    op.drop_table("ratings")
