"""Sessions, messages, feedback and tickets. A database kefu 0.2 wrote (the same tables,
made by hand, `handoff` and `rewritten` added to messages later) is taken over as it is,
the columns it lacks added. The tables are written out here, not imported: a migration
stays what it was when later ones change them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Column, Float, Integer, MetaData, PrimaryKeyConstraint, Table, Text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

metadata = MetaData()

sessions = Table(
    "sessions", metadata,
    Column("id", Text, primary_key=True),
    Column("kb", Text),
    Column("created", Float),
    Column("updated", Float),
)

messages = Table(
    "messages", metadata,
    Column("session_id", Text),
    Column("seq", Integer),
    Column("role", Text),
    Column("content", Text),
    Column("route", Text),
    Column("sources", Text),  # JSON: the cited entries
    Column("created", Float),
    Column("handoff", Text, server_default=""),
    Column("rewritten", Text, server_default=""),  # a follow-up's standalone question
    PrimaryKeyConstraint("session_id", "seq"),
)

feedback = Table(
    "feedback", metadata,
    Column("session_id", Text),
    Column("seq", Integer),
    Column("rating", Text),
    Column("comment", Text),
    Column("created", Float),
    PrimaryKeyConstraint("session_id", "seq"),
)

tickets = Table(
    "tickets", metadata,
    Column("id", Text, primary_key=True),
    Column("session_id", Text),
    Column("kb", Text),
    Column("reason", Text),
    Column("contact", Text),
    Column("status", Text),
    Column("created", Float),
    Column("closed", Float),
    Column("note", Text),
    Column("transcript", Text),  # JSON: the conversation when the ticket was opened
    Column("webhook", Text),
    Column("attempts", Integer),
    Column("last_error", Text),
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            table.create(bind)
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                op.add_column(table.name, column._copy())


def downgrade() -> None:
    for table in reversed(metadata.sorted_tables):
        op.drop_table(table.name)
