"""A person takes over a conversation: who answers it now (sessions.state, .person), who
wrote a message or made a move and why (messages.author, .reason: also why kefu took its
route), and the shop's staff who may answer.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("state", sa.Text, nullable=False,
                                        server_default="bot"))
    op.add_column("sessions", sa.Column("person", sa.Text, nullable=False, server_default=""))
    op.add_column("messages", sa.Column("author", sa.Text, nullable=False,
                                        server_default=""))
    op.add_column("messages", sa.Column("reason", sa.Text, nullable=False,
                                        server_default=""))
    op.create_table("staff",
                    sa.Column("name", sa.Text, primary_key=True),
                    sa.Column("password", sa.Text),
                    sa.Column("created", sa.Float))


def downgrade() -> None:
    op.drop_table("staff")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("reason")
        messages.drop_column("author")
    with op.batch_alter_table("sessions") as sessions:
        sessions.drop_column("person")
        sessions.drop_column("state")
