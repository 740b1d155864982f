"""Conversations that survive a restart: sessions and messages in SQLite.

The one module that knows where conversations live, so a server database can replace it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from kefu.types import Message, Source

MAX_TURNS = 20  # user + assistant pairs handed back as history

_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, kb TEXT, created REAL, updated REAL);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT REFERENCES sessions(id), seq INTEGER, role TEXT, content TEXT,
    route TEXT, sources TEXT, created REAL, PRIMARY KEY (session_id, seq));
"""
# Columns added after 0.1, with their defaults for rows written before.
_ADDED_COLUMNS = {"handoff": "''", "rewritten": "''"}


class ConversationStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        for name, default in _ADDED_COLUMNS.items():
            if name not in columns:
                self._db.execute(f"ALTER TABLE messages ADD COLUMN {name} TEXT DEFAULT {default}")
        self._db.commit()
        self._lock = threading.Lock()

    def open(self, session_id: str | None, kb: str) -> str:
        """The given session (created if new), or a new one."""
        session_id = session_id or uuid.uuid4().hex
        now = time.time()
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO sessions VALUES (?, ?, ?, ?)",
                             (session_id, kb, now, now))
        return session_id

    def append(self, session_id: str, role: str, content: str, route: str = "",
               sources: Sequence[Source] = (), handoff: str = "", rewritten: str = "") -> None:
        now = time.time()
        cited = json.dumps([s.to_json() for s in sources])
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO messages (session_id, seq, role, content, route, sources, created, "
                "handoff, rewritten) SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? "
                "FROM messages WHERE session_id = ?",
                (session_id, role, content, route, cited, now, handoff, rewritten, session_id))
            self._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))

    def history(self, session_id: str, turns: int = MAX_TURNS) -> list[Message]:
        """The last `turns` exchanges, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content, route, handoff FROM messages WHERE session_id = ? "
                "ORDER BY seq DESC LIMIT ?", (session_id, 2 * turns)).fetchall()
        return [Message(role, content, route or "", handoff or "")
                for role, content, route, handoff in reversed(rows)]

    def transcript(self, session_id: str) -> list[dict[str, object]]:
        """Every message of a session with its route and sources, for people to read."""
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content, route, sources, created, rewritten FROM messages "
                "WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
        return [{"role": r, "content": c, "route": route, "sources": json.loads(s),
                 "created": created, "rewritten": rewritten or ""}
                for r, c, route, s, created, rewritten in rows]

    def close(self) -> None:
        self._db.close()
