"""The Gradio chat page: maps agent events to chat messages, nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts
from kefu.knowledge_base.text import detect_lang
from kefu.types import Answer, Lang, Message

EXAMPLES = [
    "How much does shipping cost?",
    "退货运费谁承担？",
    "Can I send back an engraved lamp?",
    "春节期间发货吗？",
    "What's the weather on Mars?",
]


def format_sources(answer: Answer, agent: Agent) -> str:
    """The sources line shown under an answer, in the answer's language."""
    if not answer.sources:
        return ""
    items = []
    for number, source in enumerate(answer.sources, start=1):
        entry = agent.retriever.kb.get(source.id)
        title = entry.question if entry else ""
        label = f"[{number}] " if answer.route == "rag" else ""
        items.append(f"{label}`{source.id}` {title}")
    return f"\n\n<sub>{prompts(answer.lang)['sources_label']}: " + " · ".join(items) + "</sub>"


def _history(chat: list[dict[str, Any]]) -> list[Message]:
    return [Message(m["role"], str(m["content"])) for m in chat
            if m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]


def _last_user_lang(chat: list[dict[str, Any]]) -> Lang:
    for message in reversed(chat):
        if message.get("role") == "user":
            return detect_lang(str(message["content"]))
    return "en"


def build_chat_page(agent: Agent, title: str) -> gr.Blocks:
    greeting = f"{prompts('en')['greeting']}\n\n{prompts('zh')['greeting']}"

    def respond(text: str, chat: list[dict[str, Any]]) -> Iterator[tuple[str, list]]:
        text = (text or "").strip()
        if not text:
            yield "", chat
            return
        history = _history(chat)
        chat = [*chat, {"role": "user", "content": text}, {"role": "assistant", "content": "…"}]
        yield "", chat
        streamed = ""
        for event in agent.answer(text, history):
            if event.kind == "token":
                streamed += event.text
                chat[-1] = {"role": "assistant", "content": streamed}
                yield "", chat
            elif event.kind == "answer" and event.answer is not None:
                content = event.answer.answer + format_sources(event.answer, agent)
                chat[-1] = {"role": "assistant", "content": content}
                yield "", chat

    def handoff(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lang = _last_user_lang(chat)
        return [*chat, {"role": "assistant", "content": prompts(lang)["handoff"]}]

    with gr.Blocks(title=title) as page:
        gr.Markdown(f"## {title}")
        chatbot = gr.Chatbot(
            value=[{"role": "assistant", "content": greeting}], height=640, show_label=False,
            elem_id="kefu-chat")
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question · 请输入您的问题", show_label=False,
                             scale=8, autofocus=True, elem_id="kefu-input")
            send = gr.Button("Send · 发送", variant="primary", scale=1, elem_id="kefu-send")
        human = gr.Button(f"{prompts('en')['human_button']} · {prompts('zh')['human_button']}",
                          elem_id="kefu-human")
        gr.Examples(EXAMPLES, inputs=box)
        box.submit(respond, [box, chatbot], [box, chatbot])
        send.click(respond, [box, chatbot], [box, chatbot])
        human.click(handoff, [chatbot], [chatbot])
    return page
