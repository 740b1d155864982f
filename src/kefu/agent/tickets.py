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
from sqlalchemy import Row, delete, select, update

from kefu.config import HandoffSettings
from kefu.errors import TicketClosed, TicketError
from kefu.storage.database import open_database
from kefu.storage.tables import tickets

log = logging.getLogger(__name__)

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
    """Tickets in the conversation database (location: an SQLite file, or a
    store.database_url)."""

    def __init__(self, location: Path | str) -> None:
        self._db = open_database(location)

    def create(self, session_id: str, kb: str, reason: str, transcript: list[dict[str, Any]],
               contact: str = "", webhook: bool = False) -> Ticket:
        ticket_id = "T" + uuid.uuid4().hex[:10].upper()
        with self._db.begin() as db:
            db.execute(tickets.insert().values(
                id=ticket_id, session_id=session_id, kb=kb, reason=reason, contact=contact,
                status="open", created=time.time(), closed=None, note="",
                transcript=json.dumps(transcript, ensure_ascii=False),
                webhook="pending" if webhook else "", attempts=0, last_error=""))
        return self.get(ticket_id)

    def get(self, ticket_id: str) -> Ticket:
        with self._db.begin() as db:
            row = db.execute(select(tickets).where(
                tickets.c.id == ticket_id.strip().upper())).first()
        if row is None:
            raise TicketError(f"no ticket {ticket_id!r}; `kefu tickets list` shows them")
        return _ticket(row)

    def list(self, status: str = "open", limit: int = 200) -> builtins.list[Ticket]:
        """Newest first; status 'open', 'closed' or 'all'."""
        query = select(tickets).order_by(tickets.c.created.desc()).limit(limit)
        if status != "all":
            query = query.where(tickets.c.status == status)
        with self._db.begin() as db:
            return [_ticket(r) for r in db.execute(query).all()]

    def open_for(self, session_id: str) -> Ticket | None:
        """The session's open ticket, if it has one (a second request reuses it)."""
        with self._db.begin() as db:
            row = db.execute(select(tickets).where(
                tickets.c.session_id == session_id, tickets.c.status == "open")
                .order_by(tickets.c.created.desc()).limit(1)).first()
        return _ticket(row) if row else None

    def set_contact(self, ticket_id: str, contact: str) -> None:
        """How staff can reach the customer, given after the ticket was opened."""
        with self._db.begin() as db:
            db.execute(update(tickets).where(tickets.c.id == ticket_id).values(contact=contact))

    def close(self, ticket_id: str, note: str = "") -> Ticket:
        ticket = self.get(ticket_id)
        if ticket.status == "closed":
            raise TicketClosed(f"ticket {ticket.id} is already closed")
        with self._db.begin() as db:
            db.execute(update(tickets).where(tickets.c.id == ticket.id).values(
                status="closed", closed=time.time(), note=note))
        return self.get(ticket.id)

    def record_attempt(self, ticket_id: str, state: str, error: str = "") -> None:
        with self._db.begin() as db:
            db.execute(update(tickets).where(tickets.c.id == ticket_id).values(
                webhook=state, attempts=tickets.c.attempts + 1, last_error=error[:300]))

    def undelivered(self) -> builtins.list[Ticket]:
        with self._db.begin() as db:
            rows = db.execute(select(tickets).where(
                tickets.c.webhook.in_(("pending", "failed"))).order_by(tickets.c.created)).all()
        return [_ticket(r) for r in rows]

    def forget(self, session_ids: Sequence[str], closed_only: bool = False) -> int:
        """Delete the tickets of these conversations (only the closed ones: an open ticket
        still waits for staff); how many."""
        if not session_ids:
            return 0
        query = delete(tickets).where(tickets.c.session_id.in_(list(session_ids)))
        if closed_only:
            query = query.where(tickets.c.status == "closed")
        with self._db.begin() as db:
            return int(db.execute(query).rowcount)

    def close_db(self) -> None:
        """Close the pooled connections (the next use opens new ones)."""
        self._db.engine.dispose()


def _ticket(row: Row[Any]) -> Ticket:
    (ticket_id, session_id, kb, reason, contact, status, created, closed, note, transcript,
     webhook, attempts, last_error) = tuple(row)
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
