"""The Gradio chat page: maps support-desk events to chat messages, nothing more; while a
person of the staff is awaited or holds the conversation, their replies and moves are
fetched every second."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from kefu.agent.conversations import KEFU
from kefu.agent.desk import SupportDesk
from kefu.agent.guard import reply_lang
from kefu.agent.handover import SILENT_STATES
from kefu.agent.prompts import prompts, render
from kefu.types import Answer, Event

EXAMPLES = [
    "How much does shipping cost?",
    "退货运费谁承担？",
    "Can I send back an engraved lamp?",
    "春节期间发货吗？",
    "What's the weather on Mars?",
]
Chat = list[dict[str, Any]]


def format_sources(answer: Answer, desk: SupportDesk) -> str:
    """The sources line shown under an answer, in the answer's language."""
    if not answer.sources or answer.route == "suggest":
        return ""
    words = prompts(answer.lang)
    items = []
    for number, source in enumerate(answer.sources, start=1):
        entry = desk.kb.get(source.id)
        title = entry.question if entry else ""
        label = f"[{number}] " if answer.route == "rag" else ""
        note = f" ({words['translated_label']})" if source.translated else ""
        items.append(f"{label}`{source.id}` {title}{note}")
    return f"\n\n<sub>{words['sources_label']}: " + " · ".join(items) + "</sub>"


def _message(answer: Answer, desk: SupportDesk) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant",
                               "content": answer.answer + format_sources(answer, desk)}
    if answer.suggestions:  # "did you mean": clicking one asks it
        message["options"] = [{"value": q, "label": q} for q in answer.suggestions]
    return message


def _debug(events: list[Event]) -> dict[str, Any]:
    """What the debug panel shows of one reply: the rewrite, the hits, the route."""
    out: dict[str, Any] = {}
    for event in events:
        if event.kind == "rewrite":
            out["rewritten"] = event.text
        elif event.kind == "hits":
            out["hits"] = [{"id": h.entry.id, "score": round(h.score, 3),
                            "question_match": round(h.question, 3), "dense": round(h.dense, 3),
                            "bm25": round(h.bm25, 3)} for h in event.hits]
        elif event.kind == "answer" and event.answer is not None:
            out |= {"route": event.answer.route, "reason": event.answer.reason,
                    "lang": event.answer.lang, "handoff": event.answer.handoff,
                    "sources": [s.to_json() for s in event.answer.sources]}
        elif event.kind in ("ticket", "error"):
            out[event.kind] = event.text
    return out


def _delivered(desk: SupportDesk, session: str, after: int) -> tuple[Chat, int]:
    """A person's replies and the moves after message `after`, as chat messages; the number
    of the last one."""
    lang = reply_lang("", desk.conversations.history(session))
    words = prompts(lang)["widget"]
    lines = {"claim": words["joined"], "release": words["left"], "close": words["closed"]}
    out: Chat = []
    for row in desk.conversations.since(session, after):
        after = int(str(row["id"]))
        if row["kind"] == "message" and row["author"] == KEFU:
            out.append({"role": "assistant", "content": str(row["text"])})
        elif row["kind"] == "message":
            out.append({"role": "assistant", "content": f"**{row['author']}**: {row['text']}"})
        elif str(row["move"]) in lines:
            line = lines[str(row["move"])].replace("{name}", str(row["author"]))
            out.append({"role": "assistant", "content": f"*{line}*"})
    return out, after


def build_chat_page(desk: SupportDesk, title: str) -> gr.Blocks:
    greeting = f"{prompts('en')['greeting']}\n\n{prompts('zh')['greeting']}"

    def respond(text: str, chat: Chat, session: str | None
                ) -> Iterator[tuple[str, Chat, str, dict[str, Any]]]:
        text = (text or "").strip()
        session = desk.start(session)
        if not text:
            yield "", chat, session, {}
            return
        chat = [*chat, {"role": "user", "content": text}, {"role": "assistant", "content": "…"}]
        yield "", chat, session, {}
        seen = []
        for event in desk.chat(session, text):
            seen.append(event)
            if event.kind == "queue":
                chat[-1] = {"role": "assistant", "content": render(
                    reply_lang(text), "queue", position=event.position)}
            elif event.kind == "answer" and event.answer is not None and (
                    event.answer.route == "agent"):
                chat = chat[:-1]  # kefu is silent: the message went to a person
            elif event.kind == "answer" and event.answer is not None:
                chat[-1] = _message(event.answer, desk)
            else:
                continue
            yield "", chat, session, _debug(seen)

    def pick(chat: Chat, session: str | None, choice: gr.SelectData
             ) -> Iterator[tuple[str, Chat, str, dict[str, Any]]]:
        yield from respond(str(choice.value), chat, session)

    def handoff(chat: Chat, session: str | None) -> tuple[Chat, str]:
        session = desk.start(session)
        _ticket, answer = desk.handoff(session, "button")
        return [*chat, {"role": "assistant", "content": answer.answer}], session

    def watch(session: str | None) -> gr.Timer:
        """Fetch a person's replies while one is awaited or holds the conversation."""
        held = bool(session) and desk.conversations.state(str(session))[0] in SILENT_STATES
        return gr.Timer(active=held)

    def deliver(chat: Chat, session: str | None, seen: int) -> tuple[Chat, int, gr.Timer]:
        if not session:
            return chat, seen, gr.Timer(active=False)
        new, seen = _delivered(desk, session, seen)
        timer = watch(session)
        if not timer.active:  # what kefu said right after the last move
            late, seen = _delivered(desk, session, seen)
            new += late
        return [*chat, *new], seen, timer

    with gr.Blocks(title=title) as page:
        session = gr.State(None)
        seen = gr.State(0)  # the last of a person's messages or moves shown
        live = gr.Timer(1.0, active=False)
        gr.Markdown(f"## {title}")
        chatbot = gr.Chatbot(
            value=[{"role": "assistant", "content": greeting}], height=600, show_label=False,
            elem_id="kefu-chat")
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question · 请输入您的问题", show_label=False,
                             scale=8, autofocus=True, elem_id="kefu-input")
            send = gr.Button("Send · 发送", variant="primary", scale=1, elem_id="kefu-send")
        human = gr.Button(f"{prompts('en')['human_button']} · {prompts('zh')['human_button']}",
                          elem_id="kefu-human")
        gr.Examples(EXAMPLES, inputs=box)
        with gr.Accordion("Debug: how the last message was understood", open=False):
            debug = gr.JSON(show_label=False, elem_id="kefu-debug")
        outputs = [box, chatbot, session, debug]
        box.submit(respond, [box, chatbot, session], outputs).then(watch, [session], [live])
        send.click(respond, [box, chatbot, session], outputs).then(watch, [session], [live])
        chatbot.option_select(pick, [chatbot, session], outputs)
        human.click(handoff, [chatbot, session], [chatbot, session]).then(
            watch, [session], [live])
        live.tick(deliver, [chatbot, session, seen], [chatbot, seen, live])
    return page
