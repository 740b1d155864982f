"""Sessions, messages, feedback and tickets. A database kefu 0.2 wrote (the same tables,
made by hand, `handoff` and `rewritten` added to messages later) is taken over as it is,
the columns it lacks added. The tables are written out here, not imported: a migration
stays what it was when later ones change them.

Revision ID: 0001
Revises:
"""

from sqlalchemy import Column, Float, Integer, MetaData, PrimaryKeyConstraint, Table, Text

from kefu.storage.takeover import drop_all, take_over

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
    take_over(metadata)


def downgrade() -> None:
    drop_all(metadata)
