"""The staff's inbox at /inbox (Gradio; a person signs in with the name and password `kefu
agents add NAME` set): the conversations waiting for a person (longest first) or held by
one, a conversation's transcript, kefu's suggested answer to the customer's last message
with its sources, and claim, reply, release to the bot, close. The queue and the open
conversation refresh every two seconds, so several people see the same queue and a
conversation one of them claims shows as taken to the others. In Chinese or English
(page_language.py: the browser's language, or the page's switch), the texts in ui/texts'
`inbox`."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from kefu.agent.desk import SupportDesk
from kefu.agent.handover import Move
from kefu.errors import HandoverError
from kefu.ui.page_language import PageTexts, Table, switch, table, words

QUEUE_KEYS = ("last_message", "state", "person", "for")
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


def queue_rows(desk: SupportDesk, said: dict[str, str], now: float | None = None
               ) -> tuple[Table, list[str]]:
    """The queue as the table shows it (headed in the person's language), and its
    conversations' ids."""
    now = time.time() if now is None else now
    queue = desk.conversations.queue()
    state = {"waiting": said["waiting"], "person": said["held"]}
    rows = [[str(c["last_message"])[:160], state.get(str(c["state"]), str(c["state"])),
             str(c["person"]), waited(c["since"], now)] for c in queue]  # type: ignore[arg-type]
    return (table(said, QUEUE_KEYS, rows),
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


def refusal(exc: HandoverError, said: dict[str, str]) -> str:
    """A refused move or reply in the person's words (the error's own, for any other)."""
    template = said.get(f"refused_{exc.why}")
    if template is None:
        return str(exc)
    fields = {**exc.details}
    for field in ("state", "move"):
        if field in fields:
            fields[field] = said.get(f"{field}_{fields[field]}", fields[field])
    return template.format(**fields)


def build_inbox_page(desk: SupportDesk, title: str) -> gr.Blocks:
    """title: the shop's ("Lumi Home · kefu"); the page's name follows it."""
    labels = PageTexts("inbox")

    def refresh(session_id: str, request: gr.Request
                ) -> tuple[Table, list[str], str, Chat]:
        if request.username:
            desk.staff.seen(request.username)  # at work: kefu may call them
        said = words(request, "inbox")
        rows, ids = queue_rows(desk, said)
        if not session_id:
            return rows, ids, heading(desk, "", said), []
        return (rows, ids, heading(desk, session_id, said),
                transcript_messages(desk, session_id, said))

    def pick(ids: list[str], event: gr.SelectData, request: gr.Request
             ) -> tuple[str, str, Chat]:
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        session_id = ids[row] if isinstance(row, int) and 0 <= row < len(ids) else ""
        said = words(request, "inbox")
        return (session_id, heading(desk, session_id, said),
                transcript_messages(desk, session_id, said))

    def suggest(session_id: str, request: gr.Request) -> tuple[str, str]:
        return suggested(desk, session_id, words(request, "inbox"))

    def act(move: Move):
        def handler(session_id: str, request: gr.Request
                    ) -> tuple[Table, list[str], str, Chat]:
            if session_id:
                try:
                    desk.move(session_id, move, request.username or "")
                except HandoverError as exc:
                    gr.Warning(refusal(exc, words(request, "inbox")))
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
                gr.Warning(refusal(exc, words(request, "inbox")))
        return (text, *refresh(session_id, request))

    with gr.Blocks(title=f"{title} inbox") as page:
        with gr.Row(equal_height=True):
            labels.show(gr.Markdown(), value="heading", fields={"title": title})
            choice = switch()
        selected = gr.State("")
        ids = gr.State([])  # the conversations of the queue's rows
        with gr.Row():
            with gr.Column(scale=1):
                labels.show(gr.Markdown(elem_id="inbox-queue-title"), value="queue")
                queue = gr.Dataframe(interactive=False, wrap=True, elem_id="inbox-queue")
            with gr.Column(scale=1):
                head = gr.Markdown(elem_id="inbox-heading")  # set by refresh
                transcript = gr.Chatbot(height=380, show_label=False,
                                        elem_id="inbox-transcript")
                hint = gr.Markdown(elem_id="inbox-suggestion")
                proposal = gr.State("")
                with gr.Row():
                    use = labels.show(gr.Button(elem_id="inbox-use"), value="use")
                    again = labels.show(gr.Button(elem_id="inbox-suggest"), value="again")
                reply = labels.show(gr.Textbox(lines=3, show_label=False,
                                               elem_id="inbox-reply"), placeholder="reply")
                with gr.Row():
                    claim = labels.show(gr.Button(variant="primary", elem_id="inbox-claim"),
                                        value="claim")
                    post = labels.show(gr.Button(variant="primary", elem_id="inbox-send"),
                                       value="send")
                    release = labels.show(gr.Button(elem_id="inbox-release"), value="release")
                    close = labels.show(gr.Button(elem_id="inbox-close"), value="close")
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
        labels.follow(page, choice)
    return page
