"""The admin page's Translations tab: the machine-translated twins of FAQ entries written in
one language only and of document sections (knowledge_base/twins.py), to read, correct and
keep, or reject; in the person's language (page_language.py)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.agent.guard import untranslated_words
from kefu.errors import KefuError
from kefu.knowledge_base import twins
from kefu.knowledge_base.text import nonempty_lines
from kefu.knowledge_base.twins import Translation
from kefu.ui.page_language import PageTexts, Table, english_headers, words
from kefu.ui.page_language import table as page_table

COLUMNS = ("col_source", "col_status", "col_shop", "col_machine")
STATUSES = ("machine", "failed", "checked", "rejected", "covered")  # the order shown


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def words_left(made: twins.Twin) -> list[str]:
    """The words the machine translation left in the source's language (顺丰 in English,
    "shipping" in Chinese): what the owner should correct first."""
    if made.twin is None:
        return []
    said = " ".join([made.twin.question, *made.twin.alt_questions, made.twin.answer])
    return list(dict.fromkeys(untranslated_words(said, made.twin.lang)))


def review_table(made: list[twins.Twin], said: dict[str, Any]) -> Table:
    """The twins (twins.twins()), those to review first and among them those with words left
    untranslated (named in their status), then by source id; headed in the person's
    language."""
    order = {status: n for n, status in enumerate(STATUSES)}
    left = {t.source.id: words_left(t) if t.status == "machine" else [] for t in made}
    made = sorted(made, key=lambda t: (order.get(t.status, len(STATUSES)),
                                       not left[t.source.id], t.source.id))

    def status(t: twins.Twin) -> str:
        shown = str(said.get(f"status_{t.status}", t.status))
        if left[t.source.id]:
            shown += str(said["status_words_left"]).format(words=", ".join(left[t.source.id]))
        return shown

    return page_table(said, COLUMNS, [
        [t.source.id, status(t), _short(f"{t.source.question} — {t.source.answer}"),
         _short(f"{t.twin.question} — {t.twin.answer}") if t.twin else ""] for t in made])


def translations_tab(desk: SupportDesk, tab: gr.Tab, shown: PageTexts) -> None:
    """The tab's components and handlers, inside tab (of the page's gr.Blocks)."""
    kb = desk.kb

    def progress(made: list[twins.Twin], said: dict[str, Any]) -> str:
        counts = {s: sum(t.status == s for t in made) for s in STATUSES}
        maker = desk.twins
        waiting = len(twins.pending(kb, maker is not None and maker.documents))
        line = str(said["twin_counts"].format(waiting=waiting, **counts))
        left = sum(bool(words_left(t)) for t in made if t.status == "machine")
        if left:
            line += said["twin_words_left"].format(left=left)
        if maker is not None and maker.progress.state == "translating":
            line += said["twin_translating"].format(done=maker.progress.done,
                                                    total=maker.progress.total)
        elif maker is None and waiting:
            line += said["twin_idle"]
        return line

    def refresh(request: gr.Request) -> tuple[str, Table]:
        said = words(request, "admin")
        made = twins.twins(kb)  # read once for the counts and the table
        return progress(made, said), review_table(made, said)

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

    def keep(source_id: str, question: str, answer: str, alts: str,
             request: gr.Request) -> tuple[str, str, Table]:
        said = words(request, "admin")
        source = kb.get(source_id)
        untitled = source is not None and source.kind == "doc" and not source.question
        if source is None or not (question.strip() or untitled) or not answer.strip():
            return said["pick_twin"], *refresh(request)
        try:
            twins.put_twin(kb, source, Translation(question.strip(), answer.strip(),
                                                   nonempty_lines(alts)), status="checked")
        except KefuError as exc:
            return said["problem"].format(detail=exc), *refresh(request)
        return said["kept"].format(id=source_id), *refresh(request)

    def reject(source_id: str, request: gr.Request) -> tuple[str, str, Table]:
        said = words(request, "admin")
        if kb.get(source_id) is None:
            return said["pick_first"], *refresh(request)
        twins.reject(kb, source_id)
        return said["rejected"].format(id=source_id), *refresh(request)

    shown.show(gr.Markdown(), value="translations_intro")
    counts = gr.Markdown(elem_id="admin-translations-progress")
    table = gr.Dataframe(headers=english_headers("admin", COLUMNS), interactive=False,
                         wrap=True, max_height=320, elem_id="admin-translations",
                         column_widths=["16%", "18%", "33%", "33%"])
    source_id = shown.show(gr.Textbox(interactive=False), label="source_entry")
    source_text = gr.Markdown()
    question = shown.show(gr.Textbox(elem_id="admin-twin-question"), label="twin_question")
    answer = shown.show(gr.Textbox(lines=3, elem_id="admin-twin-answer"), label="twin_answer")
    alts = shown.show(gr.Textbox(lines=2), label="twin_alts")
    with gr.Row():
        keep_button = shown.show(gr.Button(variant="primary", elem_id="admin-twin-keep"),
                                 value="keep")
        reject_button = shown.show(gr.Button(variant="stop", elem_id="admin-twin-reject"),
                                   value="reject")
        refresh_button = shown.show(gr.Button(), value="refresh")
    status = gr.Markdown(elem_id="admin-twin-status")
    table.select(pick, table, [source_id, source_text, question, answer, alts])
    keep_button.click(keep, [source_id, question, answer, alts], [status, counts, table])
    reject_button.click(reject, source_id, [status, counts, table])
    refresh_button.click(refresh, None, [counts, table])
    tab.select(refresh, None, [counts, table])
