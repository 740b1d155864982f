"""The tables of the conversation database, as the migrations leave them (the one
description the stores' queries are written against)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, PrimaryKeyConstraint, Table, Text

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
