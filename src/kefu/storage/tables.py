"""The tables as the migrations leave them (the one description the stores' queries are
written against): the conversation database's, and each knowledge base's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class StoredText(TypeDecorator[str]):
    """TEXT without NUL characters: PostgreSQL's text cannot hold them (a customer may type
    one, a hostile client send one), so both databases store the text without them."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.replace("\x00", "") if isinstance(value, str) else value


metadata = MetaData()  # the conversation database

sessions = Table(
    "sessions", metadata,
    Column("id", StoredText, primary_key=True),
    Column("kb", StoredText),
    Column("created", Float),
    Column("updated", Float),
    Column("state", StoredText, nullable=False, server_default="bot"),  # agent/handover.py
    Column("person", StoredText, nullable=False, server_default=""),  # who holds it
)

messages = Table(
    "messages", metadata,
    Column("session_id", StoredText),
    Column("seq", Integer),
    Column("role", StoredText),
    Column("content", StoredText),
    Column("route", StoredText),
    Column("sources", StoredText),  # JSON: the cited entries
    Column("created", Float),
    Column("handoff", StoredText, server_default=""),
    Column("rewritten", StoredText, server_default=""),  # a follow-up's standalone question
    Column("author", StoredText, nullable=False, server_default=""),  # a person's name
    Column("reason", StoredText, nullable=False, server_default=""),  # why this route or move
    PrimaryKeyConstraint("session_id", "seq"),
)

feedback = Table(
    "feedback", metadata,
    Column("session_id", StoredText),
    Column("seq", Integer),
    Column("rating", StoredText),
    Column("comment", StoredText),
    Column("created", Float),
    PrimaryKeyConstraint("session_id", "seq"),
)

tickets = Table(
    "tickets", metadata,
    Column("id", StoredText, primary_key=True),
    Column("session_id", StoredText),
    Column("kb", StoredText),
    Column("reason", StoredText),
    Column("contact", StoredText),
    Column("status", StoredText),
    Column("created", Float),
    Column("closed", Float),
    Column("note", StoredText),
    Column("transcript", StoredText),  # JSON: the conversation when the ticket was opened
    Column("webhook", StoredText),
    Column("attempts", Integer),
    Column("last_error", StoredText),
)

ratings = Table(  # the customer's rating of a whole conversation (the latest counts)
    "ratings", metadata,
    Column("session_id", StoredText, primary_key=True),
    Column("stars", Integer),
    Column("comment", StoredText),
    Column("created", Float),
)

staff = Table(  # the people who answer customers (`kefu agents add NAME`)
    "staff", metadata,
    Column("name", StoredText, primary_key=True),
    Column("password", StoredText),  # pbkdf2_sha256$iterations$salt$hash
    Column("created", Float),
    Column("last_seen", Float, nullable=False, server_default="0"),  # at work: the inbox, API
)
Index("sessions_by_state", sessions.c.state)


# -- one knowledge base's bookkeeping (its own SQLite file, or its own PostgreSQL schema) ----
kb_metadata = MetaData()

kb_meta = Table(  # the embedder, the generation mark, settings fitted by kefu tune
    "meta", kb_metadata,
    Column("key", StoredText, primary_key=True),
    Column("value", StoredText),
)

kb_entries = Table(
    "entries", kb_metadata,
    Column("id", StoredText, primary_key=True),
    Column("kind", StoredText),
    Column("lang", StoredText),
    Column("question", StoredText),
    Column("answer", StoredText),
    Column("category", StoredText),
    Column("alt_questions", StoredText),  # JSON list
    Column("source", StoredText),
    Column("hash", StoredText),
    Column("translated_from", StoredText, nullable=False, server_default=""),
    Column("position", Integer, nullable=False, server_default="0"),  # order of writing
)

kb_tokens = Table(
    "bm25", kb_metadata,
    Column("entry_id", StoredText, primary_key=True),
    Column("tokens", StoredText),  # jieba tokens joined by spaces
)

kb_twins = Table(
    "twins", kb_metadata,
    Column("source_id", StoredText, primary_key=True),
    Column("source_hash", StoredText),
    Column("status", StoredText),
    Column("covered_by", StoredText),
)
