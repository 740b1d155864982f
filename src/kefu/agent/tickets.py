"""Handoff tickets: stored first (with the transcript), then announced to a webhook.

The ticket is committed to SQLite before the webhook is called, and every attempt is
recorded on it, so a webhook that is down never loses a ticket: `kefu tickets retry` (or
the next server start) sends the undelivered ones again.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from kefu.config import HandoffSettings
from kefu.errors import TicketClosed, TicketError
from kefu.knowledge_base.database import open_database

log = logging.getLogger(__name__)

_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, session_id TEXT, kb TEXT, reason TEXT, contact TEXT,
    status TEXT, created REAL, closed REAL, note TEXT, transcript TEXT,
    webhook TEXT, attempts INTEGER, last_error TEXT);
"""


@dataclass(frozen=True)
class Ticket:
    id: str
    session_id: str
    kb: str
    reason: str  # asked | button | abstained | angry | busy
    contact: str
    status: str  # open | closed
    created: float
    closed: float | None
    note: str
    transcript: list[dict[str, Any]]
    webhook: str  # "" (none configured) | pending | delivered | failed
    attempts: int
    last_error: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class TicketStore:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def create(self, session_id: str, kb: str, reason: str, transcript: list[dict[str, Any]],
               contact: str = "", webhook: bool = False) -> Ticket:
        ticket_id = "T" + uuid.uuid4().hex[:10].upper()
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, 'open', ?, NULL, '', ?, ?, 0, '')",
                (ticket_id, session_id, kb, reason, contact, time.time(),
                 json.dumps(transcript, ensure_ascii=False), "pending" if webhook else ""))
        return self.get(ticket_id)

    def get(self, ticket_id: str) -> Ticket:
        with self._lock:
            row = self._db.execute("SELECT * FROM tickets WHERE id = ?",
                                   (ticket_id.strip().upper(),)).fetchone()
        if row is None:
            raise TicketError(f"no ticket {ticket_id!r}; `kefu tickets list` shows them")
        return _ticket(row)

    def list(self, status: str = "open", limit: int = 200) -> builtins.list[Ticket]:
        """Newest first; status 'open', 'closed' or 'all'."""
        where, args = ("", ()) if status == "all" else ("WHERE status = ?", (status,))
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM tickets {where} ORDER BY created DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_ticket(r) for r in rows]

    def open_for(self, session_id: str) -> Ticket | None:
        """The session's open ticket, if it has one (a second request reuses it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM tickets WHERE session_id = ? AND status = 'open' "
                "ORDER BY created DESC LIMIT 1", (session_id,)).fetchone()
        return _ticket(row) if row else None

    def close(self, ticket_id: str, note: str = "") -> Ticket:
        ticket = self.get(ticket_id)
        if ticket.status == "closed":
            raise TicketClosed(f"ticket {ticket.id} is already closed")
        with self._lock, self._db:
            self._db.execute("UPDATE tickets SET status = 'closed', closed = ?, note = ? "
                             "WHERE id = ?", (time.time(), note, ticket.id))
        return self.get(ticket.id)

    def record_attempt(self, ticket_id: str, state: str, error: str = "") -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE tickets SET webhook = ?, attempts = attempts + 1, "
                             "last_error = ? WHERE id = ?", (state, error[:300], ticket_id))

    def undelivered(self) -> builtins.list[Ticket]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM tickets WHERE webhook IN "
                                    "('pending', 'failed') ORDER BY created").fetchall()
        return [_ticket(r) for r in rows]

    def forget(self, session_ids: Sequence[str], closed_only: bool = False) -> int:
        """Delete the tickets of these conversations (only the closed ones: an open ticket
        still waits for staff); how many."""
        status = "AND status = 'closed'" if closed_only else ""
        with self._lock, self._db:
            return sum(self._db.execute(f"DELETE FROM tickets WHERE session_id = ? {status}",
                                        (sid,)).rowcount for sid in session_ids)

    def close_db(self) -> None:
        self._db.close()


def _ticket(row: tuple[Any, ...]) -> Ticket:
    (ticket_id, session_id, kb, reason, contact, status, created, closed, note, transcript,
     webhook, attempts, last_error) = row
    return Ticket(ticket_id, session_id, kb, reason, contact, status, created, closed, note,
                  json.loads(transcript), webhook, attempts, last_error)


class WebhookNotifier:
    """POSTs each new ticket as JSON, retrying with doubling back-off; records each try."""

    def __init__(self, cfg: HandoffSettings, store: TicketStore,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self._store = store
        self._sleep = sleep
        headers = ({"Authorization": f"Bearer {cfg.webhook_token}"}
                   if cfg.webhook_token else {})
        self._http = httpx.Client(timeout=10, headers=headers, transport=transport)

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.webhook_url)

    def deliver(self, ticket: Ticket) -> bool:
        """Try up to webhook_attempts times; True once the webhook answered 2xx."""
        delay = self.cfg.webhook_backoff_s
        payload = {"event": "ticket.created", "ticket": ticket.to_json()}
        for attempt in range(1, self.cfg.webhook_attempts + 1):
            try:
                response = self._http.post(self.cfg.webhook_url, json=payload)
                if response.is_success:
                    self._store.record_attempt(ticket.id, "delivered")
                    return True
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            last = attempt == self.cfg.webhook_attempts
            self._store.record_attempt(ticket.id, "failed" if last else "pending", error)
            log.warning("ticket %s: webhook attempt %d failed (%s)", ticket.id, attempt, error)
            if not last:
                self._sleep(delay)
                delay *= 2
        return False

    def deliver_in_background(self, ticket: Ticket) -> threading.Thread:
        thread = threading.Thread(target=self.deliver, args=(ticket,), daemon=True,
                                  name=f"kefu-webhook-{ticket.id}")
        thread.start()
        return thread
