"""What the owner does to the served knowledge base and its conversations: one place for
each action, behind both the admin HTTP API (admin_api.py) and the admin page
(admin_page.py), so the two cannot drift. Every edit goes through the same editor as
`kefu kb`, so it answers the next question."""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kefu.agent.desk import SupportDesk
from kefu.agent.export import Format, write_export
from kefu.agent.tickets import Ticket
from kefu.errors import IngestError, KefuError
from kefu.knowledge_base.editor import LocalEditor, edited, new_entry
from kefu.knowledge_base.sync import SyncReport
from kefu.types import Entry


@dataclass(frozen=True)
class EntryForm:
    """An FAQ entry as the owner sends it; None leaves a field of an existing entry as it
    is (a new entry: empty, its language detected)."""

    question: str | None = None
    answer: str | None = None
    lang: str | None = None
    category: str | None = None
    alt_questions: tuple[str, ...] | None = None


class AdminService:
    def __init__(self, desk: SupportDesk) -> None:
        self.desk = desk
        self.editor = LocalEditor(desk.kb)

    # -- knowledge base ---------------------------------------------------------------

    def entries(self, search: str = "", limit: int | None = None) -> list[Entry]:
        """Entries whose id, question or answer holds search (all when empty)."""
        return self.editor.list(search)[:limit]

    def entry(self, entry_id: str) -> Entry:
        """The entry; KnowledgeBaseError when there is none."""
        return self.editor.show(entry_id)

    def put_entry(self, entry_id: str, form: EntryForm) -> tuple[Entry, str]:
        """Create the entry (entry_id empty: one made from the question), or change the
        given fields of the existing one: (the entry, "added" | "updated" | "unchanged").
        KnowledgeBaseError when the result is not a valid entry."""
        current = self.desk.kb.get(entry_id) if entry_id else None
        if current is None:
            entry = new_entry(form.question or "", form.answer or "", form.lang or "",
                              form.category or "", form.alt_questions or (), entry_id)
        else:
            entry = edited(current, asdict(form))
        return entry, self.editor.put(entry)

    def delete_entry(self, entry_id: str) -> None:
        self.editor.delete(entry_id)

    def import_file(self, name: str, data: BinaryIO) -> SyncReport:
        """Import an uploaded FAQ file or document under its own name, by which its entries
        are cited and a later upload replaces it. A file that cannot be read raises
        IngestError (or another KefuError) whose message names it, not the temporary copy."""
        name = Path(name).name
        if not name:
            raise IngestError("the upload needs a file name")
        with tempfile.TemporaryDirectory(prefix="kefu-upload-") as folder:
            path = Path(folder) / name
            with path.open("wb") as out:
                shutil.copyfileobj(data, out)
            try:
                return self.editor.put_file(path)
            except KefuError as exc:
                raise type(exc)(str(exc).replace(folder + "/", "")) from exc

    def delete_file(self, name: str) -> int:
        """Remove every entry imported from the file called name: how many."""
        return self.editor.delete_file(name)

    # -- tickets and conversations ----------------------------------------------------

    def tickets(self, status: str = "open", limit: int = 200) -> list[Ticket]:
        return self.desk.tickets.list(status, limit)

    def ticket(self, ticket_id: str) -> Ticket:
        """The ticket; TicketError when there is none."""
        return self.desk.tickets.get(ticket_id)

    def close_ticket(self, ticket_id: str, note: str = "") -> Ticket:
        """TicketError when there is no such ticket, TicketClosed when it is closed."""
        return self.desk.tickets.close(ticket_id, note)

    def conversations(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.desk.conversations.sessions(limit)

    def export(self, fmt: Format, since: float = 0.0) -> str:
        """The conversations continued since `since` as CSV or JSON lines (agent/export)."""
        out = io.StringIO()
        write_export(self.desk.conversations.export(since), out, fmt)
        return out.getvalue()

    def transcript(self, session_id: str) -> list[dict[str, Any]] | None:
        """The conversation's messages, or None when there is no such conversation."""
        if not self.desk.conversations.exists(session_id):
            return None
        return self.desk.conversations.transcript(session_id)
