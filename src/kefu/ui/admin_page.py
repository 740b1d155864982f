"""The admin page (/admin, Gradio, behind the admin token): fix an answer in a minute.

Knowledge base (search, add, edit, delete, upload), machine translations to review
(admin_translations.py), unanswered and disliked questions grouped by meaning with "write
the answer", conversations and tickets, the go-live check, a dashboard (admin_dashboard.py).
Every action is the admin service's (admin_service.py), as in the admin HTTP API; each tab
is built by its own function. In Chinese or English (page_language.py): labels through
PageTexts, messages and tables' headers from the texts of the person's language.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.agent.export import Format
from kefu.agent.insights import group_questions
from kefu.calibration.check import go_live_check
from kefu.errors import KefuError, TicketError
from kefu.knowledge_base.text import nonempty_lines
from kefu.types import ChatModel
from kefu.ui.admin_dashboard import dashboard_tab
from kefu.ui.admin_service import AdminService, EntryForm
from kefu.ui.admin_translations import translations_tab
from kefu.ui.page_language import (
    PageTexts,
    Table,
    english_headers,
    language,
    switch,
    table,
    words,
)

ENTRY_COLUMNS = ("col_id", "col_kind", "col_lang", "col_question", "col_answer")
GROUP_COLUMNS = ("col_asked", "col_question", "col_wordings", "col_why")
TICKET_COLUMNS = ("col_id", "col_status", "col_reason", "col_first_question", "col_webhook")
TRANSCRIPT_COLUMNS = ("col_who", "col_message", "col_route")
CONVERSATION_COLUMNS = ("col_conversation", "col_messages", "col_first_question")
Said = dict[str, Any]  # the page's texts in the person's language


def check_login(token: str) -> Callable[[str, str], bool]:
    """Gradio's login check: any user name, the admin token as password."""
    def login(username: str, password: str) -> bool:
        return secrets.compare_digest(password.encode(), token.encode())
    return login


def build_admin_page(desk: SupportDesk, title: str, llm_id: str = "",
                     reworder: ChatModel | None = None) -> gr.Blocks:
    """title: the shop's ("Lumi Home · kefu"); the page's name follows it."""
    admin = AdminService(desk)
    shown = PageTexts("admin")
    with gr.Blocks(title=f"{title} admin") as page:
        with gr.Row(equal_height=True):
            shown.show(gr.Markdown(), value="heading", fields={"title": title})
            choice = switch()
        with shown.show(gr.Tab(), label="kb_tab"):
            form = _knowledge_tab(admin, shown, page)
        with shown.show(gr.Tab(), label="translations_tab") as translations:
            translations_tab(desk, translations, shown)
        with shown.show(gr.Tab(), label="unanswered_tab") as unanswered:
            _unanswered_tab(desk, unanswered, form, shown)
        with shown.show(gr.Tab(), label="tickets_tab") as tickets:
            _tickets_tab(admin, tickets, shown)
        with shown.show(gr.Tab(), label="check_tab"):
            _check_tab(desk, llm_id, reworder, shown)
        with shown.show(gr.Tab(), label="dashboard_tab") as dashboard:
            dashboard_tab(desk, dashboard)
        shown.follow(page, choice)
    return page


def _entry_rows(admin: AdminService, text: str, said: Said) -> Table:
    return table(said, ENTRY_COLUMNS,
                 [[e.id, e.kind, e.lang, e.question, " ".join(e.answer.split())[:160]]
                  for e in admin.entries(text or "", 300)])


def _knowledge_tab(admin: AdminService, shown: PageTexts, page: gr.Blocks) -> list[Any]:
    """Search, add, edit, delete, upload. Returns the entry form's fields (id, question,
    answer, other wordings, language), which the unanswered questions fill in."""

    def search(text: str, request: gr.Request) -> Table:
        return _entry_rows(admin, text, words(request, "admin"))

    def load(entry_id: str) -> tuple[str, str, str, str, str]:
        entry = admin.desk.kb.get((entry_id or "").strip())
        if entry is None:
            return entry_id, "", "", "", "auto"
        return entry.id, entry.question, entry.answer, "\n".join(entry.alt_questions), entry.lang

    def pick(rows: Any, event: gr.SelectData) -> tuple[str, str, str, str, str]:
        return load(str(event.row_value[0]) if event.row_value else "")

    def save(entry_id: str, question: str, answer: str, alts: str, lang: str,
             query: str, request: gr.Request) -> tuple[str, Table, str]:
        said = words(request, "admin")
        form = EntryForm(question, answer, None if lang == "auto" else lang,
                         alt_questions=nonempty_lines(alts))
        try:
            entry, status = admin.put_entry(entry_id.strip(), form)
        except KefuError as exc:
            return said["problem"].format(detail=exc), search(query, request), entry_id
        return (said["saved"].format(id=entry.id, status=said[status]),
                search(query, request), entry.id)

    def delete(entry_id: str, query: str, request: gr.Request) -> tuple[str, Table]:
        said = words(request, "admin")
        try:
            admin.delete_entry(entry_id.strip())
        except KefuError as exc:
            return said["problem"].format(detail=exc), search(query, request)
        return said["deleted"].format(id=entry_id), search(query, request)

    def upload(paths: list[str] | None, query: str, request: gr.Request) -> tuple[str, Table]:
        said = words(request, "admin")
        notes = []
        for path in paths or []:
            name = Path(path).name  # the upload's own name: it is cited and replaced by it
            try:
                with open(path, "rb") as data:
                    report = admin.import_file(name, data)
            except KefuError as exc:
                notes.append(said["import_problem"].format(name=name, detail=exc))
                continue
            [file] = report.files
            notes.append(said["imported"].format(
                name=name, added=file.added, updated=file.updated, unchanged=file.unchanged,
                removed=report.removed) + "".join(f"\n  - {p}" for p in report.problems))
        return "\n".join(notes) or said["no_file"], search(query, request)

    query = shown.show(gr.Textbox(elem_id="admin-search"), label="search")
    entries = gr.Dataframe(headers=english_headers("admin", ENTRY_COLUMNS), interactive=False,
                           wrap=True, max_height=320, elem_id="admin-entries",
                           column_widths=["16%", "6%", "6%", "32%", "40%"])
    with gr.Row():
        entry_id = shown.show(gr.Textbox(scale=2, elem_id="admin-id"), label="entry_id")
        lang = shown.show(gr.Dropdown(["auto", "zh", "en"], value="auto", scale=1),
                          label="language")
    question = shown.show(gr.Textbox(elem_id="admin-question"), label="question")
    answer = shown.show(gr.Textbox(lines=3, elem_id="admin-answer"), label="answer")
    alts = shown.show(gr.Textbox(lines=2, elem_id="admin-alts"), label="alts")
    with gr.Row():
        save_button = shown.show(gr.Button(variant="primary", elem_id="admin-save"),
                                 value="save")
        delete_button = shown.show(gr.Button(variant="stop"), value="delete")
    status = gr.Markdown(elem_id="admin-status")
    files = shown.show(gr.File(file_count="multiple", type="filepath"), label="upload")
    form = [entry_id, question, answer, alts, lang]
    page.load(search, query, entries)
    query.change(search, query, entries)
    entries.select(pick, entries, form)
    save_button.click(save, [*form, query], [status, entries, entry_id])
    delete_button.click(delete, [entry_id, query], [status, entries])
    files.upload(upload, [files, query], [status, entries])
    return form


def _unanswered_tab(desk: SupportDesk, tab: gr.Tab, form: list[Any],
                    shown: PageTexts) -> None:
    """Questions kefu declined or that got a thumbs-down, grouped by meaning; a click
    puts one into the knowledge base form."""

    def unanswered(request: gr.Request) -> tuple[Table, Any]:
        said = words(request, "admin")
        groups = group_questions(desk.conversations.unanswered(), desk.kb)
        rows = [[g.count, g.question, " · ".join(g.others[:5]),
                 ", ".join(said.get(f"why_{w.replace(' ', '_')}", w) for w in sorted(g.why))]
                for g in groups]
        return table(said, GROUP_COLUMNS, rows), groups

    def write_answer(groups: Any, event: gr.SelectData) -> tuple[str, str, str, str, str]:
        group = groups[event.index[0]] if groups and event.index else None
        if group is None:
            return "", "", "", "", "auto"
        return "", group.question, "", "\n".join(group.others), "auto"

    shown.show(gr.Markdown(), value="unanswered_intro")
    groups_state = gr.State([])
    groups = gr.Dataframe(headers=english_headers("admin", GROUP_COLUMNS), interactive=False,
                          wrap=True, elem_id="admin-unanswered")
    refresh = shown.show(gr.Button(), value="refresh")
    refresh.click(unanswered, None, [groups, groups_state])
    tab.select(unanswered, None, [groups, groups_state])
    groups.select(write_answer, groups_state, form)


def _transcript_rows(messages: list[dict[str, Any]], said: Said) -> Table:
    """Who said what, by which route; a person of the staff by name, and each change of who
    answers (a move) as the state it led to."""
    who = {"user": said["customer"], "assistant": said["kefu"]}
    named = {"person": said["person"], "move": said["moved"]}
    return table(said, TRANSCRIPT_COLUMNS,
                 [[who.get(m["role"]) or f"{named.get(m['role'], m['role'])} "
                   f"{m.get('author') or ''}".strip(),
                   str(m["content"]), str(m.get("route") or "")] for m in messages])


def _tickets_tab(admin: AdminService, tab: gr.Tab, shown: PageTexts) -> None:
    """Tickets (open, closed, all) with their whole conversation, closing with a note, and
    the recent conversations, and the export of every conversation."""

    def tickets(status: str, request: gr.Request) -> Table:
        said = words(request, "admin")
        return table(said, TICKET_COLUMNS, [
            [t.id, said.get(t.status, t.status), t.reason,
             next((m["content"] for m in t.transcript if m["role"] == "user"), "")[:80],
             t.webhook or "-"] for t in admin.tickets(status)])

    def transcript_of(ticket_id: str, said: Said) -> tuple[str, Table]:
        try:
            ticket = admin.ticket(ticket_id)
        except TicketError as exc:
            return said["problem"].format(detail=exc), _transcript_rows([], said)
        messages = admin.transcript(ticket.session_id) or ticket.transcript
        heading = said["ticket_heading"].format(
            id=ticket.id, status=said.get(ticket.status, ticket.status), reason=ticket.reason)
        if ticket.contact:
            heading += said["contact"].format(contact=ticket.contact)
        return heading, _transcript_rows(messages, said)

    def conversations(request: gr.Request) -> Table:
        return table(words(request, "admin"), CONVERSATION_COLUMNS,
                     [[c["id"], c["messages"], str(c["first_question"])[:80]]
                      for c in admin.conversations()])

    def pick_conversation(rows: Any, event: gr.SelectData,
                          request: gr.Request) -> tuple[str, Table]:
        said = words(request, "admin")
        session_id = str(event.row_value[0]) if event.row_value else ""
        return (said["conversation"].format(id=session_id),
                _transcript_rows(admin.transcript(session_id) or [], said))

    folder = Path(tempfile.mkdtemp(prefix="kefu-exports-"))  # this process's, owner only
    atexit.register(shutil.rmtree, folder, ignore_errors=True)

    def export(fmt: Format) -> str:
        """The export as a file for Gradio to serve (it keeps its own copy); exports older
        than an hour are removed."""
        for old in folder.glob("conversations-*"):
            if old.stat().st_mtime < time.time() - 3600:
                old.unlink(missing_ok=True)
        path = folder / f"conversations-{time.strftime('%Y%m%d-%H%M%S')}-{fmt}.{fmt}"
        path.write_text(admin.export(fmt), encoding="utf-8")
        return str(path)

    def pick_ticket(rows: Any, event: gr.SelectData,
                    request: gr.Request) -> tuple[str, str, Table]:
        ticket_id = str(event.row_value[0]) if event.row_value else ""
        return (ticket_id, *transcript_of(ticket_id, words(request, "admin")))

    def close(ticket_id: str, note: str, status: str, request: gr.Request) -> tuple[str, Table]:
        said = words(request, "admin")
        try:
            admin.close_ticket(ticket_id, note)
        except TicketError as exc:
            return said["problem"].format(detail=exc), tickets(status, request)
        return said["ticket_closed"].format(id=ticket_id), tickets(status, request)

    which = shown.show(gr.Radio(["open", "closed", "all"], value="open"), label="tickets",
                       choices={"open": "open", "closed": "closed", "all": "all"})
    ticket_rows = gr.Dataframe(headers=english_headers("admin", TICKET_COLUMNS), interactive=False,
                               wrap=True, elem_id="admin-tickets")
    ticket_id = shown.show(gr.Textbox(), label="ticket")
    heading = gr.Markdown()
    transcript = gr.Dataframe(headers=english_headers("admin", TRANSCRIPT_COLUMNS),
                              interactive=False, wrap=True, elem_id="admin-transcript")
    note = shown.show(gr.Textbox(), label="note")
    close_button = shown.show(gr.Button(), value="close_ticket")
    ticket_status = gr.Markdown()
    sessions = shown.show(gr.Dataframe(headers=english_headers("admin", CONVERSATION_COLUMNS),
                                       interactive=False, max_height=240), label="recent")
    with gr.Row():
        export_format = shown.show(gr.Radio(["csv", "jsonl"], value="csv"),
                                   label="export_format")
        export_button = shown.show(gr.Button(elem_id="admin-export"), value="export")
    exported = shown.show(gr.File(elem_id="admin-exported"), label="download")
    which.change(tickets, which, ticket_rows)
    tab.select(tickets, which, ticket_rows)
    tab.select(conversations, None, sessions)
    sessions.select(pick_conversation, sessions, [heading, transcript])
    ticket_rows.select(pick_ticket, ticket_rows, [ticket_id, heading, transcript])
    close_button.click(close, [ticket_id, note, which], [ticket_status, ticket_rows])
    export_button.click(export, export_format, exported)


def _check_tab(desk: SupportDesk, llm_id: str, reworder: ChatModel | None,
               shown: PageTexts) -> None:
    """The go-live check on the served knowledge base; the served LLM rewords, sampled
    (reworder) when given."""

    def check(request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        lang = language(request)
        progress(0, desc=words(request, "admin")["check_progress"])
        report = go_live_check(desk.agent, reworder or desk.agent.chat_model, llm_id,
                               progress=False)
        return "\n\n".join(line if not line.startswith("  ") else f"- {line.strip()}"
                           for line in report.lines(lang))

    shown.show(gr.Markdown(), value="check_intro")
    run = shown.show(gr.Button(variant="primary", elem_id="admin-check"), value="check_run")
    findings = gr.Markdown(elem_id="admin-check-result")
    run.click(check, None, findings)
