"""A knowledge base's bookkeeping: its entries, their BM25 tokens, settings and marks
(meta), and the state of their machine-translated twins. A file kefu 0.2 or 0.3 wrote (the
same tables, made by hand; `translated_from` added to entries later, `twins` later still)
is taken over as it is: the missing columns and tables added, and the entries' order, which
was SQLite's rowid, written into `position`. The tables are written out here, not
imported: a migration stays what it was when later ones change them.

Revision ID: kb0001
Revises:
"""

from alembic import op
from sqlalchemy import Column, Integer, MetaData, Table, Text

from kefu.storage.takeover import drop_all, take_over

revision = "kb0001"
down_revision = None
branch_labels = None
depends_on = None

metadata = MetaData()

Table("meta", metadata,
      Column("key", Text, primary_key=True),
      Column("value", Text))

Table("entries", metadata,
      Column("id", Text, primary_key=True),
      Column("kind", Text),
      Column("lang", Text),
      Column("question", Text),
      Column("answer", Text),
      Column("category", Text),
      Column("alt_questions", Text),  # JSON list
      Column("source", Text),
      Column("hash", Text),
      Column("translated_from", Text, nullable=False, server_default=""),
      Column("position", Integer, nullable=False, server_default="0"))

Table("bm25", metadata,
      Column("entry_id", Text, primary_key=True),
      Column("tokens", Text))  # jieba tokens joined by spaces

Table("twins", metadata,
      Column("source_id", Text, primary_key=True),
      Column("source_hash", Text),
      Column("status", Text),
      Column("covered_by", Text))


def upgrade() -> None:
    if ("entries", "position") in take_over(metadata):
        op.execute("UPDATE entries SET position = rowid")  # only SQLite files had entries
    op.create_index("entries_by_position", "entries", ["position"])


def downgrade() -> None:
    drop_all(metadata)
