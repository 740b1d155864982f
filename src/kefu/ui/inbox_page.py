"""The staff's inbox at /inbox (Gradio; a person signs in with the name and password `kefu
agents add NAME` set): the conversations waiting for a person (longest first) or held by
one, a conversation's transcript, kefu's suggested answer to the customer's last message
with its sources, and claim, reply, release to the bot, close. The queue and the open
conversation refresh every two seconds, so several people see the same queue and a
conversation one of them claims shows as taken to the others. In the browser's language
(Chinese or English; Gradio's Settings switch the labels), the texts in prompts' `inbox`."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.agent.handover import Move
from kefu.agent.prompts import prompts
from kefu.errors import HandoverError

QUEUE_KEYS = ("last_message", "state", "person", "for")
REFRESH_S = 2.0
Chat = list[dict[str, Any]]
Table = dict[str, list[Any]]  # a Dataframe's value: its headers and rows


def waited(since: float | None, now: float) -> str:
    """How long ago, in words a person reads at a glance: 45 s, 3 min, 2 h 5 min."""
    if since is None:
        return ""
    seconds = max(0, int(now - since))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def words(request: gr.Request | None) -> dict[str, str]:
    """The inbox's texts in the language the person's browser asks for first."""
    asked = request.headers.get("accept-language", "") if request is not None else ""
    return prompts("zh" if asked.lower().startswith("zh") else "en")["inbox"]


def queue_rows(desk: SupportDesk, said: dict[str, str], now: float | None = None
               ) -> tuple[Table, list[str]]:
    """The queue as the table shows it (headed in the person's language), and its
    conversations' ids."""
    now = time.time() if now is None else now
    queue = desk.conversations.queue()
    state = {"waiting": said["waiting"], "person": said["held"]}
    rows = [[str(c["last_message"])[:160], state.get(str(c["state"]), str(c["state"])),
             str(c["person"]), waited(c["since"], now)] for c in queue]  # type: ignore[arg-type]
    return ({"headers": [said[k] for k in QUEUE_KEYS], "data": rows},
            [str(c["session_id"]) for c in queue])


def transcript_messages(desk: SupportDesk, session_id: str, said: dict[str, str]) -> Chat:
    """The conversation as the person reads it: the customer's messages, kefu's and the
    staff's replies (named), each move as a line in italics."""
    out: Chat = []
    for message in desk.conversations.transcript(session_id):
        role, text, author = message["role"], str(message["content"]), message["author"]
        if role == "user":
            out.append({"role": "user", "content": text})
        elif role == "assistant":
            out.append({"role": "assistant", "content": f"**kefu**: {text}"})
        elif role == "person":
            out.append({"role": "assistant", "content": f"**{author}**: {text}"})
        else:
            line = said.get(f"moved_{text}", text).replace("{name}", str(author))
            out.append({"role": "assistant", "content": f"*{line}*"})
    return out


def heading(desk: SupportDesk, session_id: str, said: dict[str, str]) -> str:
    if not session_id:
        return said["pick"]
    state, person = desk.conversations.state(session_id)
    held = f"{said['with']} **{person}**" if state == "person" else \
        f"**{said.get(state, state)}**"
    return f"{said['conversation']} `{session_id[:8]}` · {held}"


def suggested(desk: SupportDesk, session_id: str, said: dict[str, str]) -> tuple[str, str]:
    """(kefu's suggested reply, a line about it with its sources) for the person."""
    answer = desk.suggestion(session_id) if session_id else None
    if answer is None or not answer.answer:
        return "", said["no_suggestion"]
    sources = ", ".join(f"`{s.id}`" for s in answer.sources) or "-"
    return answer.answer, (f"**{said['would_answer']}** ({answer.route}; {said['sources']}: "
                           f"{sources}):\n\n> {answer.answer}")


def translations() -> gr.I18n:
    """The inbox's labels in both languages, for the browser to pick."""
    return gr.I18n(en=prompts("en")["inbox"], zh=prompts("zh")["inbox"])


def build_inbox_page(desk: SupportDesk, title: str) -> gr.Blocks:
    i18n = translations()

    def refresh(session_id: str, request: gr.Request
                ) -> tuple[Table, list[str], str, Chat]:
        if request.username:
            desk.staff.seen(request.username)  # at work: kefu may call them
        said = words(request)
        rows, ids = queue_rows(desk, said)
        if not session_id:
            return rows, ids, heading(desk, "", said), []
        return (rows, ids, heading(desk, session_id, said),
                transcript_messages(desk, session_id, said))

    def pick(ids: list[str], event: gr.SelectData, request: gr.Request
             ) -> tuple[str, str, Chat]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        session_id = ids[row] if isinstance(row, int) and 0 <= row < len(ids) else ""
        said = words(request)
        return (session_id, heading(desk, session_id, said),
                transcript_messages(desk, session_id, said))

    def suggest(session_id: str, request: gr.Request) -> tuple[str, str]:
        return suggested(desk, session_id, words(request))

    def act(move: Move):
        def handler(session_id: str, request: gr.Request
                    ) -> tuple[Table, list[str], str, Chat]:
            if session_id:
                try:
                    desk.move(session_id, move, request.username or "")
                except HandoverError as exc:
                    gr.Warning(str(exc))
            return refresh(session_id, request)
        return handler

    def send(session_id: str, text: str, request: gr.Request
             ) -> tuple[str, Table, list[str], str, Chat]:
        text = (text or "").strip()
        if session_id and text:
            try:
                desk.conversations.say_as_person(session_id, request.username or "", text)
                return ("", *refresh(session_id, request))
            except HandoverError as exc:
                gr.Warning(str(exc))
        return (text, *refresh(session_id, request))

    with gr.Blocks(title=title) as page:
        gr.Markdown(f"## {title}")
        selected = gr.State("")
        ids = gr.State([])  # the conversations of the queue's rows
        with gr.Row():
            with gr.Column(scale=1):
                gr.Markdown(i18n("queue"), elem_id="inbox-queue-title")
                queue = gr.Dataframe(interactive=False, wrap=True, elem_id="inbox-queue")
            with gr.Column(scale=1):
                head = gr.Markdown(i18n("pick"), elem_id="inbox-heading")
                transcript = gr.Chatbot(height=380, show_label=False,
                                        elem_id="inbox-transcript")
                hint = gr.Markdown(elem_id="inbox-suggestion")
                proposal = gr.State("")
                with gr.Row():
                    use = gr.Button(i18n("use"), elem_id="inbox-use")
                    again = gr.Button(i18n("again"), elem_id="inbox-suggest")
                reply = gr.Textbox(lines=3, show_label=False, elem_id="inbox-reply",
                                   placeholder=i18n("reply"))
                with gr.Row():
                    claim = gr.Button(i18n("claim"), variant="primary", elem_id="inbox-claim")
                    post = gr.Button(i18n("send"), variant="primary", elem_id="inbox-send")
                    release = gr.Button(i18n("release"), elem_id="inbox-release")
                    close = gr.Button(i18n("close"), elem_id="inbox-close")
        shown = [queue, ids, head, transcript]
        page.load(refresh, selected, shown)
        gr.Timer(REFRESH_S).tick(refresh, selected, shown)
        queue.select(pick, ids, [selected, head, transcript]).then(
            suggest, selected, [proposal, hint])
        again.click(suggest, selected, [proposal, hint])
        use.click(lambda text: text, proposal, reply)
        claim.click(act("claim"), selected, shown)
        release.click(act("release"), selected, shown)
        close.click(act("close"), selected, shown)
        post.click(send, [selected, reply], [reply, *shown])
        reply.submit(send, [selected, reply], [reply, *shown])
    return page
