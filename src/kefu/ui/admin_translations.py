"""The admin page's Translations tab: the machine-translated twins of FAQ entries written in
one language only and of document sections (knowledge_base/twins.py), to read, correct and
keep, or reject."""

from __future__ import annotations

from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.errors import KefuError
from kefu.knowledge_base import twins
from kefu.knowledge_base.text import nonempty_lines
from kefu.knowledge_base.twins import Translation

COLUMNS = ["source", "status", "written by the shop", "machine translation"]
STATUS_WORDS = {"machine": "to review", "checked": "kept", "rejected": "rejected",
                "failed": "failed its checks (write it yourself, or leave it)",
                "covered": "you wrote it in the other language too"}


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def translations_tab(desk: SupportDesk, tab: gr.Tab) -> None:
    """The tab's components and handlers, inside tab (of the page's gr.Blocks)."""
    kb = desk.kb

    def rows() -> list[list[str]]:
        order = {"machine": 0, "failed": 1, "checked": 2, "rejected": 3, "covered": 4}
        made = sorted(twins.twins(kb), key=lambda t: (order.get(t.status, 4), t.source.id))
        return [[t.source.id, STATUS_WORDS.get(t.status, t.status),
                 _short(f"{t.source.question} — {t.source.answer}"),
                 _short(f"{t.twin.question} — {t.twin.answer}") if t.twin else ""]
                for t in made]

    def progress() -> str:
        made = twins.twins(kb)
        counts = {s: sum(t.status == s for t in made) for s in STATUS_WORDS}
        maker = desk.twins
        waiting = len(twins.pending(kb, maker is not None and maker.documents))
        line = (f"**{counts['machine']}** to review · {counts['checked']} kept · "
                f"{counts['rejected']} rejected · {counts['failed']} failed · "
                f"{counts['covered']} written in both languages · "
                f"**{waiting}** waiting for the LLM")
        if maker is not None and maker.progress.state == "translating":
            line += f" — translating now: {maker.progress.done} of {maker.progress.total}"
        elif maker is None and waiting:
            line += " — the server is not translating (no LLM, or llm.translate_entries off)"
        return line

    def refresh() -> tuple[str, list[list[str]]]:
        return progress(), rows()

    def pick(table: Any, event: gr.SelectData) -> tuple[str, str, str, str, str]:
        source_id = str(event.row_value[0]) if event.row_value else ""
        source = kb.get(source_id)
        if source is None:
            return "", "", "", "", ""
        twin = kb.get(twins.twin_id(source.id, twins.other_language(source.lang)))
        shown = f"**{source.question}**\n\n{source.answer}"
        if twin is None:
            return source_id, shown, "", "", ""
        return source_id, shown, twin.question, twin.answer, "\n".join(twin.alt_questions)

    def keep(source_id: str, question: str, answer: str,
             alts: str) -> tuple[str, str, list[list[str]]]:
        source = kb.get(source_id)
        untitled = source is not None and source.kind == "doc" and not source.question
        if source is None or not (question.strip() or untitled) or not answer.strip():
            return "**Problem:** pick a translation, with a question and an answer.", \
                *refresh()
        try:
            twins.put_twin(kb, source, Translation(question.strip(), answer.strip(),
                                                   nonempty_lines(alts)), status="checked")
        except KefuError as exc:
            return f"**Problem:** {exc}", *refresh()
        return f"**Kept** the translation of `{source_id}`; it answers the next question.", \
            *refresh()

    def reject(source_id: str) -> tuple[str, str, list[list[str]]]:
        if kb.get(source_id) is None:
            return "**Problem:** pick a translation first.", *refresh()
        twins.reject(kb, source_id)
        return (f"**Rejected** the translation of `{source_id}`; it is made again only if "
                "the entry changes."), *refresh()

    gr.Markdown("FAQ entries you wrote in one language only get a machine translation in the "
                "other, so customers find them in either language (their answers are marked "
                "'translated'); so do your documents' sections when you write in both "
                "languages. Read them here: correct and keep, or reject. Entries you wrote "
                "in both languages are not translated; a changed entry is translated again.")
    counts = gr.Markdown(elem_id="admin-translations-progress")
    table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, max_height=320,
                         elem_id="admin-translations",
                         column_widths=["16%", "12%", "36%", "36%"])
    source_id = gr.Textbox(label="Source entry", interactive=False)
    source_text = gr.Markdown()
    question = gr.Textbox(label="Translated question", elem_id="admin-twin-question")
    answer = gr.Textbox(label="Translated answer (shown to customers, marked 'translated')",
                        lines=3, elem_id="admin-twin-answer")
    alts = gr.Textbox(label="Translated similar questions (one per line)", lines=2)
    with gr.Row():
        keep_button = gr.Button("Keep (with my corrections)", variant="primary",
                                elem_id="admin-twin-keep")
        reject_button = gr.Button("Reject", variant="stop", elem_id="admin-twin-reject")
        refresh_button = gr.Button("Refresh")
    status = gr.Markdown(elem_id="admin-twin-status")
    table.select(pick, table, [source_id, source_text, question, answer, alts])
    keep_button.click(keep, [source_id, question, answer, alts], [status, counts, table])
    reject_button.click(reject, source_id, [status, counts, table])
    refresh_button.click(refresh, None, [counts, table])
    tab.select(refresh, None, [counts, table])
