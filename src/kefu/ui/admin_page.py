"""The admin page (/admin, Gradio, behind the admin token): fix an answer in a minute.

Knowledge base (search, add, edit, delete, upload), machine translations to review
(admin_translations.py), unanswered and disliked questions
grouped by meaning with "write the answer", conversations and tickets, the go-live check,
a dashboard.
Every action is the admin service's (admin_service.py), as in the admin HTTP API; each tab
is built by its own function.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from matplotlib.figure import Figure

from kefu.agent.desk import SupportDesk
from kefu.agent.export import Format
from kefu.agent.insights import group_questions
from kefu.agent.service_report import ServiceReport, service_report
from kefu.calibration.check import go_live_check
from kefu.errors import KefuError, TicketError
from kefu.knowledge_base.text import nonempty_lines
from kefu.types import ChatModel
from kefu.ui.admin_service import AdminService, EntryForm
from kefu.ui.admin_translations import translations_tab

ENTRY_COLUMNS = ["id", "kind", "lang", "question", "answer"]
GROUP_COLUMNS = ["asked", "question", "other wordings", "why"]
TICKET_COLUMNS = ["id", "status", "reason", "first question", "webhook"]
TRANSCRIPT_COLUMNS = ["who", "message", "route"]


DASHBOARD_DAYS = 30


def check_login(token: str) -> Callable[[str, str], bool]:
    """Gradio's login check: any user name, the admin token as password."""
    def login(username: str, password: str) -> bool:
        return secrets.compare_digest(password.encode(), token.encode())
    return login


def dashboard_figure(days: list[dict[str, Any]]) -> Figure:
    """Questions per day by how they were answered, and the thumbs per day."""
    figure = Figure(figsize=(9, 5.5))
    routes, thumbs = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    labels = [d["day"][5:] for d in days] or ["—"]
    bottom = [0] * len(labels)
    for key, name, colour in (("faq", "curated FAQ", "#2b8a3e"),
                              ("suggest", "did you mean", "#74b816"),
                              ("rag", "LLM from sources", "#1c7ed6"),
                              ("declined", "declined / human", "#e8590c")):
        values = [d[key] for d in days] or [0]
        routes.bar(labels, values, bottom=bottom, label=name, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    routes.set_ylabel("questions")
    routes.legend(loc="upper left", fontsize=8, ncols=4)
    routes.set_title("Questions per day, by how kefu answered")
    thumbs.bar(labels, [d["up"] for d in days] or [0], color="#2b8a3e", label="helpful")
    thumbs.bar(labels, [-d["down"] for d in days] or [0], color="#c92a2a",
               label="not helpful (below 0)")
    thumbs.axhline(0, color="#444", linewidth=0.8)
    thumbs.set_ylabel("thumbs")
    thumbs.legend(loc="upper left", fontsize=8, ncols=2)
    thumbs.tick_params(axis="x", labelrotation=45)
    figure.tight_layout()
    return figure


def service_figure(report: ServiceReport) -> Figure:
    """Conversations per day: resolved by kefu alone, handed to a person or a ticket, the
    rest (a thumbs-down or a return)."""
    figure = Figure(figsize=(9, 3.2))
    axes = figure.subplots()
    labels = [d["day"][5:] for d in report.days] or ["—"]
    resolved = [d["resolved"] for d in report.days] or [0]
    handed = [d["handoffs"] for d in report.days] or [0]
    rest = [d["conversations"] - r - h for d, r, h in zip(report.days, resolved, handed,
                                                           strict=False)] or [0]
    axes.bar(labels, resolved, color="#2b8a3e", label="resolved by kefu alone")
    axes.bar(labels, handed, bottom=resolved, color="#1c7ed6", label="to a person or ticket")
    axes.bar(labels, rest, bottom=[a + b for a, b in zip(resolved, handed, strict=True)],
             color="#e8590c", label="thumbs-down or came back")
    axes.set_ylabel("conversations")
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.02), fontsize=8, ncols=3,
                frameon=False)
    axes.tick_params(axis="x", labelrotation=45)
    figure.tight_layout()
    return figure


def summary(days: list[dict[str, Any]]) -> str:
    total = sum(d[k] for d in days for k in ("faq", "suggest", "rag", "declined"))
    if not total:
        return "No questions yet."
    share = {k: sum(d[k] for d in days) / total for k in ("faq", "suggest", "rag", "declined")}
    up, down = sum(d["up"] for d in days), sum(d["down"] for d in days)
    thumbs = f"{up / (up + down):.0%} of {up + down} ratings helpful" if up + down else \
        "no ratings yet"
    return (f"**{total}** questions in the last 30 days: **{share['faq']:.0%}** curated FAQ "
            f"answers, {share['suggest']:.0%} 'did you mean', {share['rag']:.0%} LLM answers "
            f"from sources, {share['declined']:.0%} declined or handed to a person; {thumbs}.")


def build_admin_page(desk: SupportDesk, title: str, llm_id: str = "",
                     reworder: ChatModel | None = None) -> gr.Blocks:
    admin = AdminService(desk)
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"## {title}")
        with gr.Tab("Knowledge base"):
            form = _knowledge_tab(admin)
        with gr.Tab("Translations") as translations:
            translations_tab(desk, translations)
        with gr.Tab("Unanswered and disliked") as unanswered_tab:
            _unanswered_tab(desk, unanswered_tab, form)
        with gr.Tab("Conversations and tickets") as tickets_tab:
            _tickets_tab(admin, tickets_tab)
        with gr.Tab("Go-live check"):
            _check_tab(desk, llm_id, reworder)
        with gr.Tab("Dashboard") as dashboard_tab:
            _dashboard_tab(desk, dashboard_tab)
    return page


def _entry_rows(admin: AdminService, text: str) -> list[list[str]]:
    return [[e.id, e.kind, e.lang, e.question, " ".join(e.answer.split())[:160]]
            for e in admin.entries(text or "", 300)]


def _knowledge_tab(admin: AdminService) -> list[Any]:
    """Search, add, edit, delete, upload. Returns the entry form's fields (id, question,
    answer, other wordings, language), which the unanswered questions fill in."""

    def search(text: str) -> list[list[str]]:
        return _entry_rows(admin, text)

    def load(entry_id: str) -> tuple[str, str, str, str, str]:
        entry = admin.desk.kb.get((entry_id or "").strip())
        if entry is None:
            return entry_id, "", "", "", "auto"
        return entry.id, entry.question, entry.answer, "\n".join(entry.alt_questions), entry.lang

    def pick(rows: Any, event: gr.SelectData) -> tuple[str, str, str, str, str]:
        return load(str(event.row_value[0]) if event.row_value else "")

    def save(entry_id: str, question: str, answer: str, alts: str, lang: str,
             query: str) -> tuple[str, list[list[str]], str]:
        form = EntryForm(question, answer, None if lang == "auto" else lang,
                         alt_questions=nonempty_lines(alts))
        try:
            entry, status = admin.put_entry(entry_id.strip(), form)
        except KefuError as exc:
            return f"**Problem:** {exc}", search(query), entry_id
        saved = f"**Saved:** `{entry.id}` {status}; it answers the next question."
        return saved, search(query), entry.id

    def delete(entry_id: str, query: str) -> tuple[str, list[list[str]]]:
        try:
            admin.delete_entry(entry_id.strip())
        except KefuError as exc:
            return f"**Problem:** {exc}", search(query)
        return f"**Deleted:** `{entry_id}`.", search(query)

    def upload(paths: list[str] | None, query: str) -> tuple[str, list[list[str]]]:
        notes = []
        for path in paths or []:
            name = Path(path).name  # the upload's own name: it is cited and replaced by it
            try:
                with open(path, "rb") as data:
                    report = admin.import_file(name, data)
            except KefuError as exc:
                notes.append(f"**Problem:** {name}: {exc}")
                continue
            [file] = report.files
            notes.append(f"**Imported** {name}: {file.added} added, {file.updated} updated, "
                         f"{file.unchanged} unchanged, {report.removed} removed"
                         + "".join(f"\n  - {p}" for p in report.problems))
        return "\n".join(notes) or "No file chosen.", search(query)

    query = gr.Textbox(label="Search id, question or answer", elem_id="admin-search")
    entries = gr.Dataframe(headers=ENTRY_COLUMNS, value=search(""), interactive=False,
                           wrap=True, max_height=320, elem_id="admin-entries",
                           column_widths=["16%", "6%", "6%", "32%", "40%"])
    with gr.Row():
        entry_id = gr.Textbox(label="Id (empty: made from the question)", scale=2,
                              elem_id="admin-id")
        lang = gr.Dropdown(["auto", "zh", "en"], value="auto", label="Language", scale=1)
    question = gr.Textbox(label="Question", elem_id="admin-question")
    answer = gr.Textbox(label="Answer (shown to customers word for word)", lines=3,
                        elem_id="admin-answer")
    alts = gr.Textbox(label="Other ways customers ask it (one per line)", lines=2,
                      elem_id="admin-alts")
    with gr.Row():
        save_button = gr.Button("Save entry", variant="primary", elem_id="admin-save")
        delete_button = gr.Button("Delete entry", variant="stop")
    status = gr.Markdown(elem_id="admin-status")
    files = gr.File(label="Upload FAQ files or documents (CSV, XLSX, JSON, Markdown, PDF, "
                    "DOCX, HTML, TXT); a file of the same name is replaced",
                    file_count="multiple", type="filepath")
    form = [entry_id, question, answer, alts, lang]
    query.change(search, query, entries)
    entries.select(pick, entries, form)
    save_button.click(save, [*form, query], [status, entries, entry_id])
    delete_button.click(delete, [entry_id, query], [status, entries])
    files.upload(upload, [files, query], [status, entries])
    return form


def _unanswered_tab(desk: SupportDesk, tab: gr.Tab, form: list[Any]) -> None:
    """Questions kefu declined or that got a thumbs-down, grouped by meaning; a click
    puts one into the knowledge base form."""

    def unanswered() -> tuple[list[list[Any]], Any]:
        groups = group_questions(desk.conversations.unanswered(), desk.kb)
        rows = [[g.count, g.question, " · ".join(g.others[:5]), ", ".join(sorted(g.why))]
                for g in groups]
        return rows, groups

    def write_answer(groups: Any, event: gr.SelectData) -> tuple[str, str, str, str, str]:
        group = groups[event.index[0]] if groups and event.index else None
        if group is None:
            return "", "", "", "", "auto"
        return "", group.question, "", "\n".join(group.others), "auto"

    gr.Markdown("Questions kefu could not answer or whose answer got a thumbs-down, grouped "
                "by meaning. Click one to write its answer in the Knowledge base tab's form "
                "(the other wordings become its similar questions).")
    groups_state = gr.State([])
    groups = gr.Dataframe(headers=GROUP_COLUMNS, interactive=False, wrap=True,
                          elem_id="admin-unanswered")
    refresh = gr.Button("Refresh")
    refresh.click(unanswered, None, [groups, groups_state])
    tab.select(unanswered, None, [groups, groups_state])
    groups.select(write_answer, groups_state, form)


def _transcript_rows(messages: list[dict[str, Any]]) -> list[list[str]]:
    """Who said what, by which route; a person of the staff by name, and each change of who
    answers (a move) as the state it led to."""
    who = {"user": "customer", "assistant": "kefu"}
    return [[who.get(m["role"]) or f"{m['role']} {m.get('author') or ''}".strip(),
             str(m["content"]), str(m.get("route") or "")] for m in messages]


def _tickets_tab(admin: AdminService, tab: gr.Tab) -> None:
    """Tickets (open, closed, all) with their whole conversation, closing with a note, and
    the recent conversations."""

    def tickets(status: str) -> list[list[str]]:
        return [[t.id, t.status, t.reason,
                 next((m["content"] for m in t.transcript if m["role"] == "user"), "")[:80],
                 t.webhook or "-"] for t in admin.tickets(status)]

    def transcript_of(ticket_id: str) -> tuple[str, list[list[str]]]:
        try:
            ticket = admin.ticket(ticket_id)
        except TicketError as exc:
            return f"**Problem:** {exc}", []
        messages = admin.transcript(ticket.session_id) or ticket.transcript
        heading = (f"**Ticket {ticket.id}** · {ticket.status} · {ticket.reason}"
                   + (f" · contact: `{ticket.contact}`" if ticket.contact else ""))
        return heading, _transcript_rows(messages)

    def conversations() -> list[list[Any]]:
        return [[c["id"], c["messages"], str(c["first_question"])[:80]]
                for c in admin.conversations()]

    def pick_conversation(rows: Any, event: gr.SelectData) -> tuple[str, list[list[str]]]:
        session_id = str(event.row_value[0]) if event.row_value else ""
        return (f"**Conversation {session_id}**",
                _transcript_rows(admin.transcript(session_id) or []))

    folder = Path(tempfile.mkdtemp(prefix="kefu-exports-"))  # this process's, owner only

    def export(fmt: Format) -> str:
        """The export as a file for Gradio to serve (it keeps its own copy); exports older
        than an hour are removed."""
        for old in folder.glob("conversations-*"):
            if old.stat().st_mtime < time.time() - 3600:
                old.unlink(missing_ok=True)
        path = folder / f"conversations-{time.strftime('%Y%m%d-%H%M%S')}-{fmt}.{fmt}"
        path.write_text(admin.export(fmt), encoding="utf-8")
        return str(path)

    def pick_ticket(rows: Any, event: gr.SelectData) -> tuple[str, str, list[list[str]]]:
        ticket_id = str(event.row_value[0]) if event.row_value else ""
        return (ticket_id, *transcript_of(ticket_id))

    def close(ticket_id: str, note: str, status: str) -> tuple[str, list[list[str]]]:
        try:
            admin.close_ticket(ticket_id, note)
        except TicketError as exc:
            return f"**Problem:** {exc}", tickets(status)
        return f"**Closed:** ticket {ticket_id}.", tickets(status)

    which = gr.Radio(["open", "closed", "all"], value="open", label="Tickets")
    ticket_rows = gr.Dataframe(headers=TICKET_COLUMNS, interactive=False, wrap=True,
                               elem_id="admin-tickets")
    ticket_id = gr.Textbox(label="Ticket")
    heading = gr.Markdown()
    transcript = gr.Dataframe(headers=TRANSCRIPT_COLUMNS, interactive=False, wrap=True,
                              elem_id="admin-transcript")
    note = gr.Textbox(label="Note (what was done)")
    close_button = gr.Button("Close ticket")
    ticket_status = gr.Markdown()
    sessions = gr.Dataframe(headers=["conversation", "messages", "first question"],
                            label="Recent conversations", interactive=False, max_height=240)
    with gr.Row():
        export_format = gr.Radio(["csv", "jsonl"], value="csv", label="Export every "
                                 "conversation (routes, sources, thumbs, ratings, handoffs)")
        export_button = gr.Button("Export", elem_id="admin-export")
    exported = gr.File(label="Download", elem_id="admin-exported")
    which.change(tickets, which, ticket_rows)
    tab.select(tickets, which, ticket_rows)
    tab.select(conversations, None, sessions)
    sessions.select(pick_conversation, sessions, [heading, transcript])
    ticket_rows.select(pick_ticket, ticket_rows, [ticket_id, heading, transcript])
    close_button.click(close, [ticket_id, note, which], [ticket_status, ticket_rows])
    export_button.click(export, export_format, exported)


def _check_tab(desk: SupportDesk, llm_id: str, reworder: ChatModel | None) -> None:
    """The go-live check on the served knowledge base; the served LLM rewords, sampled
    (reworder) when given."""

    def check(progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        progress(0, desc="rewording your questions and asking them (minutes the first time)")
        report = go_live_check(desk.agent, reworder or desk.agent.chat_model, llm_id,
                               progress=False)
        return "\n\n".join(line if not line.startswith("  ") else f"- {line.strip()}"
                             for line in report.lines())

    gr.Markdown("Before customers arrive: kefu rewords each of your FAQ questions the way "
                "customers type them, asks them, and asks questions no shop answers; it then "
                "says what it will answer, what it will hand to a person, and which entries "
                "repeat or contradict each other. The rewordings are kept, so later checks "
                "are quick.")
    run = gr.Button("Run the go-live check", variant="primary", elem_id="admin-check")
    findings = gr.Markdown(elem_id="admin-check-result")
    run.click(check, None, findings)


def _dashboard_tab(desk: SupportDesk, tab: gr.Tab) -> None:
    def dashboard() -> tuple[Figure, str, Figure, str]:
        days = desk.conversations.daily()
        start = time.time() - DASHBOARD_DAYS * 86400
        report = service_report([c for c in desk.conversations.export(start)
                                 if c["created"] >= start])  # whole days: begun since
        return (dashboard_figure(days), summary(days), service_figure(report),
                "\n".join(f"- {line.strip()}" for line in report.lines()))

    headline = gr.Markdown()
    plot = gr.Plot(show_label=False)
    gr.Markdown(f"### Conversations and the people who took them (last {DASHBOARD_DAYS} days)")
    service = gr.Markdown(elem_id="admin-service")
    service_plot = gr.Plot(show_label=False)
    tab.select(dashboard, None, [plot, headline, service_plot, service])
