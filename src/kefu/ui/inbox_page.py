"""The staff's inbox at /inbox (Gradio; a person signs in with the name and password `kefu
agents add NAME` set): the conversations waiting for a person (longest first) or held by
one, a conversation's transcript, kefu's suggested answer to the customer's last message
with its sources, and claim, reply, release to the bot, close. The queue and the open
conversation refresh every two seconds, so several people see the same queue and a
conversation one of them claims shows as taken to the others."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.agent.handover import Move
from kefu.errors import HandoverError

QUEUE_COLUMNS = ["customer's last message", "state", "person", "for"]
REFRESH_S = 2.0
Chat = list[dict[str, Any]]


def waited(since: float | None, now: float) -> str:
    """How long ago, in words a person reads at a glance: 45 s, 3 min, 2 h 5 min."""
    if since is None:
        return ""
    seconds = max(0, int(now - since))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def queue_rows(desk: SupportDesk, now: float | None = None
               ) -> tuple[list[list[str]], list[str]]:
    """The queue's rows as the table shows them, and their conversations' ids."""
    now = time.time() if now is None else now
    queue = desk.conversations.queue()
    return ([[str(c["last_message"])[:160], str(c["state"]), str(c["person"]),
              waited(c["since"], now)] for c in queue],  # type: ignore[arg-type]
            [str(c["session_id"]) for c in queue])


def transcript_messages(desk: SupportDesk, session_id: str) -> Chat:
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
            who = f" by {author}" if author else ""
            out.append({"role": "assistant", "content": f"*{text}{who} → {message['route']}*"})
    return out


def heading(desk: SupportDesk, session_id: str) -> str:
    if not session_id:
        return "Pick a conversation in the queue."
    state, person = desk.conversations.state(session_id)
    held = f"with **{person}**" if state == "person" else f"**{state}**"
    return f"Conversation `{session_id[:8]}` · {held}"


def suggested(desk: SupportDesk, session_id: str) -> tuple[str, str]:
    """(kefu's suggested reply, a line about it with its sources) for the person."""
    answer = desk.suggestion(session_id) if session_id else None
    if answer is None or not answer.answer:
        return "", "No suggestion: the customer has not asked anything yet."
    sources = ", ".join(f"`{s.id}`" for s in answer.sources) or "none"
    return answer.answer, (f"**kefu would answer** ({answer.route}; sources: {sources}):\n\n"
                           f"> {answer.answer}")


def build_inbox_page(desk: SupportDesk, title: str) -> gr.Blocks:
    def refresh(session_id: str) -> tuple[list[list[str]], list[str], str, Chat]:
        rows, ids = queue_rows(desk)
        if not session_id:
            return rows, ids, heading(desk, ""), []
        return rows, ids, heading(desk, session_id), transcript_messages(desk, session_id)

    def pick(ids: list[str], event: gr.SelectData) -> tuple[str, str, Chat]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        session_id = ids[row] if isinstance(row, int) and 0 <= row < len(ids) else ""
        return session_id, heading(desk, session_id), transcript_messages(desk, session_id)

    def suggest(session_id: str) -> tuple[str, str]:
        return suggested(desk, session_id)

    def act(move: Move):
        def handler(session_id: str, request: gr.Request
                    ) -> tuple[list[list[str]], list[str], str, Chat]:
            if session_id:
                try:
                    desk.move(session_id, move, request.username or "")
                except HandoverError as exc:
                    gr.Warning(str(exc))
            return refresh(session_id)
        return handler

    def send(session_id: str, text: str, request: gr.Request
             ) -> tuple[str, list[list[str]], list[str], str, Chat]:
        text = (text or "").strip()
        if session_id and text:
            try:
                desk.conversations.say_as_person(session_id, request.username or "", text)
                return ("", *refresh(session_id))
            except HandoverError as exc:
                gr.Warning(str(exc))
        return (text, *refresh(session_id))

    with gr.Blocks(title=title) as page:
        gr.Markdown(f"## {title}")
        selected = gr.State("")
        ids = gr.State([])  # the conversations of the queue's rows
        with gr.Row():
            with gr.Column(scale=1):
                gr.Markdown("### Waiting for a person, or held by one")
                queue = gr.Dataframe(headers=QUEUE_COLUMNS, interactive=False, wrap=True,
                                     elem_id="inbox-queue")
            with gr.Column(scale=1):
                head = gr.Markdown(heading(desk, ""), elem_id="inbox-heading")
                transcript = gr.Chatbot(height=380, show_label=False,
                                        elem_id="inbox-transcript")
                hint = gr.Markdown(elem_id="inbox-suggestion")
                proposal = gr.State("")
                with gr.Row():
                    use = gr.Button("Use kefu's suggestion", elem_id="inbox-use")
                    again = gr.Button("Suggest again", elem_id="inbox-suggest")
                reply = gr.Textbox(lines=3, show_label=False, elem_id="inbox-reply",
                                   placeholder="Your reply to the customer")
                with gr.Row():
                    claim = gr.Button("Claim", variant="primary", elem_id="inbox-claim")
                    post = gr.Button("Send", variant="primary", elem_id="inbox-send")
                    release = gr.Button("Release to kefu", elem_id="inbox-release")
                    close = gr.Button("Close", elem_id="inbox-close")
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
