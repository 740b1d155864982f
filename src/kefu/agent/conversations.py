"""Conversations that survive a restart: sessions and messages in SQLite.

The one module that knows where conversations live, so a server database can replace it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from kefu.knowledge_base.database import open_database
from kefu.privacy import mask
from kefu.types import DECLINED_ROUTES, Message, Source

MAX_TURNS = 20  # user + assistant pairs handed back as history

_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, kb TEXT, created REAL, updated REAL);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT REFERENCES sessions(id), seq INTEGER, role TEXT, content TEXT,
    route TEXT, sources TEXT, created REAL, PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS feedback (
    session_id TEXT, seq INTEGER, rating TEXT, comment TEXT, created REAL,
    PRIMARY KEY (session_id, seq));
"""
# Columns added after 0.1, with their defaults for rows written before.
_ADDED_COLUMNS = {"handoff": "''", "rewritten": "''"}


class ConversationStore:
    """mask_private: messages are stored with e-mail addresses, phone, ID card and bank
    card numbers masked (privacy.mask)."""

    def __init__(self, path: Path, mask_private: bool = False) -> None:
        self._mask = mask_private
        self._db = open_database(path)
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
               sources: Sequence[Source] = (), handoff: str = "", rewritten: str = "") -> int:
        """Store one message; returns its number in the session (1, 2, ...)."""
        if self._mask:
            content, rewritten = mask(content), mask(rewritten)
        now = time.time()
        cited = json.dumps([s.to_json() for s in sources])
        with self._lock, self._db:
            (seq,) = self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE "
                                      "session_id = ?", (session_id,)).fetchone()
            self._db.execute(
                "INSERT INTO messages (session_id, seq, role, content, route, sources, created, "
                "handoff, rewritten) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, seq, role, content, route, cited, now, handoff, rewritten))
            self._db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        return int(seq)

    def exists(self, session_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM sessions WHERE id = ?",
                                    (session_id,)).fetchone() is not None

    def feedback(self, session_id: str, seq: int, rating: str, comment: str = "") -> bool:
        """Thumbs up or down on one of kefu's replies (the latest rating counts); False when
        the session has no such reply."""
        with self._lock, self._db:
            reply = self._db.execute(
                "SELECT 1 FROM messages WHERE session_id = ? AND seq = ? AND role = 'assistant'",
                (session_id, seq)).fetchone()
            if reply is None:
                return False
            self._db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?)",
                             (session_id, seq, rating, comment, time.time()))
        return True

    def forget(self, session_id: str) -> int:
        """Erase a conversation (a customer's request): its messages, thumbs and the
        session itself; the number of messages erased."""
        with self._lock, self._db:
            erased = self._db.execute("DELETE FROM messages WHERE session_id = ?",
                                      (session_id,)).rowcount
            self._db.execute("DELETE FROM feedback WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return erased

    def forget_before(self, cutoff: float) -> list[str]:
        """Erase the conversations last continued before cutoff (a Unix time); their ids."""
        with self._lock:
            stale = [sid for (sid,) in self._db.execute(
                "SELECT id FROM sessions WHERE updated < ?", (cutoff,))]
        for session_id in stale:
            self.forget(session_id)
        return stale

    # -- what the owner reads ------------------------------------------------------------
    def sessions(self, limit: int = 100) -> list[dict[str, object]]:
        """The latest conversations: id, when, how many messages, the first question."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.updated, count(m.seq), (SELECT content FROM messages WHERE "
                "session_id = s.id AND role = 'user' ORDER BY seq LIMIT 1) FROM sessions s "
                "JOIN messages m ON m.session_id = s.id GROUP BY s.id ORDER BY s.updated DESC "
                "LIMIT ?", (limit,)).fetchall()
        return [{"id": i, "updated": u, "messages": n, "first_question": q or ""}
                for i, u, n, q in rows]

    def unanswered(self, limit: int = 1000) -> list[dict[str, object]]:
        """Customer questions kefu declined to answer or whose answer got a thumbs-down,
        newest first, as the standalone question when a follow-up was rewritten."""
        with self._lock:
            rows = self._db.execute(
                "SELECT coalesce(nullif(a.rewritten, ''), u.content), a.route, f.rating, "
                "a.session_id, a.seq, a.created FROM messages a "
                "JOIN messages u ON u.session_id = a.session_id AND u.seq = a.seq - 1 "
                "LEFT JOIN feedback f ON f.session_id = a.session_id AND f.seq = a.seq "
                "WHERE a.role = 'assistant' AND u.role = 'user' "
                "AND (a.route = 'abstain' OR f.rating = 'down') "
                "ORDER BY a.created DESC LIMIT ?", (limit,)).fetchall()
        return [{"question": q, "why": "disliked" if rating == "down" else "not answered",
                 "session_id": sid, "seq": seq, "created": created}
                for q, route, rating, sid, seq, created in rows]

    def questions(self, kb: str, limit: int = 1000) -> list[str]:
        """Customers' questions to kb that reached the answer ladder, newest first, as the
        standalone question when a follow-up was rewritten (for `kefu tune`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT coalesce(nullif(a.rewritten, ''), u.content) FROM messages a "
                "JOIN messages u ON u.session_id = a.session_id AND u.seq = a.seq - 1 "
                "JOIN sessions s ON s.id = a.session_id "
                "WHERE a.role = 'assistant' AND u.role = 'user' AND s.kb = ? "
                "AND a.route IN ('faq', 'suggest', 'rag', 'abstain') "
                "ORDER BY a.created DESC, a.seq DESC LIMIT ?", (kb, limit)).fetchall()
        return [q for (q,) in rows]

    def daily(self, days: int = 30) -> list[dict[str, object]]:
        """Per day (UTC) of the last `days`: replies by route, thumbs up and down."""
        since = time.time() - days * 86400
        with self._lock:
            routes = self._db.execute(
                "SELECT date(created, 'unixepoch'), route, count(*) FROM messages "
                "WHERE role = 'assistant' AND created >= ? GROUP BY 1, 2", (since,)).fetchall()
            thumbs = self._db.execute(
                "SELECT date(created, 'unixepoch'), rating, count(*) FROM feedback "
                "WHERE created >= ? GROUP BY 1, 2", (since,)).fetchall()
        out: dict[str, dict[str, object]] = {}
        for day, route, count in routes:
            row = out.setdefault(day, _day(day))
            key = "declined" if route in DECLINED_ROUTES else route
            row[key] = int(str(row.get(key, 0))) + count
        for day, rating, count in thumbs:
            out.setdefault(day, _day(day))[rating] = count
        return [out[day] for day in sorted(out)]

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


def _day(day: str) -> dict[str, object]:
    return {"day": day, "faq": 0, "suggest": 0, "rag": 0, "declined": 0, "up": 0, "down": 0}
