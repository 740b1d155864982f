"""The customer-facing HTTP API under /api/v1: chat (JSON or server-sent events), feedback,
handoff, the events of a conversation a person of the staff takes over, health. Every reply
comes from the support desk; rate limits per IP and per conversation answer 429 with
Retry-After."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from limits.storage import Storage
from pydantic import AfterValidator, BaseModel, Field

from kefu.agent.desk import SupportDesk
from kefu.agent.guard import reply_lang
from kefu.agent.replies import failed
from kefu.knowledge_base.store import KnowledgeBase
from kefu.types import Answer, Event, Source, final_answer
from kefu.ui.errors import ERROR_RESPONSES, ApiError
from kefu.ui.limits import RateLimiter, limit, per_ip

MAX_MESSAGE_CHARS = 4000
SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"
# The OpenAI-compatible API's conversations (openai_api.py), named after its client's `user`,
# so anyone could name them; this API does not serve them.
OPENAI_SESSIONS = "oai-"
EVENTS_POLL_S = 0.5  # how often an open event stream looks for a person's new messages
EVENTS_HOLD_S = 25.0  # a stream ends after this; the browser reconnects with Last-Event-ID
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx: do not buffer
EVENTS_PER_CHAT = 4  # event streams an address may open a minute, per chat request allowed


def _customers(session_id: str) -> str:
    if session_id.startswith(OPENAI_SESSIONS):
        raise ValueError("a conversation of the OpenAI-compatible API, not of this one")
    return session_id


# A conversation of this API's customers: a widget's, a chat page's, a client's own.
SessionId = Annotated[str, Field(pattern=SESSION_ID), AfterValidator(_customers)]


class ChatRequest(BaseModel):
    message: str = Field(..., min_length=1, max_length=MAX_MESSAGE_CHARS,
                         description="The customer's message.")
    session_id: SessionId | None = Field(None, description="Continue this conversation; "
                                         "omit to start one.")
    kb: str | None = Field(None, max_length=64, description="The knowledge base the widget "
                           "names (data-kb); it must be the one this server serves.")


class SourceOut(BaseModel):
    id: str
    score: float
    translated: bool = Field(False, description="The curated answer was translated by the "
                             "LLM from the other language.")
    title: str = Field("", description="The entry's question, or the document's heading.")
    file: str = Field("", description="The file the entry was imported from.")
    snippet: str = Field("", description="The start of the entry's answer or passage.")


class ChatResponse(BaseModel):
    answer: str
    route: str = Field(..., description="faq | suggest | rag | abstain | refuse | handoff | "
                       "agent (kefu is silent: a person of the staff is awaited or holds the "
                       "conversation and gets the message; their replies come as "
                       "/api/v1/chat/events)")
    lang: str = Field(..., description="zh | en")
    sources: list[SourceOut]
    suggestions: list[str] = Field(..., description="'Did you mean' questions (route "
                                   "suggest): send one back as the next message.")
    handoff: str = Field(..., description="'' | offer (show the human button) | accepted "
                         "(a ticket was opened)")
    rewritten: str = Field(..., description="The standalone question a follow-up was "
                           "understood as ('' when it was not rewritten).")
    reason: str = Field("", description="Why kefu took this route, in a line (for logs and "
                        "debugging; not meant for the customer).")
    message_id: int | None = Field(None, description="This reply's number in the "
                                   "conversation, for feedback; null when the conversation "
                                   "could not be stored (the reply is then kefu's apology).")
    ticket_id: str | None = Field(None, description="Set when this reply opened a ticket.")
    session_id: str


class FeedbackRequest(BaseModel):
    session_id: SessionId
    message_id: int = Field(..., ge=1, le=1_000_000)
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=1000)


class RatingRequest(BaseModel):
    session_id: SessionId
    stars: int = Field(..., ge=1, le=5, description="1 (bad) to 5 (very good).")
    comment: str = Field("", max_length=1000)


class HandoffRequest(BaseModel):
    session_id: SessionId
    contact: str = Field("", max_length=200, description="Optional email or phone for staff.")


class HandoffResponse(BaseModel):
    ticket_id: str | None = Field(..., description="The ticket opened; null when a person of "
                                  "the staff joins this conversation instead (the shop has "
                                  "staff: `kefu agents add`).")
    answer: str = Field(..., description="What to show the customer.")
    message_id: int
    session_id: str


def build_router(desk: SupportDesk, llm: str, requests_per_ip: int, per_session: int,
                 counts: Storage | None = None) -> APIRouter:
    """The chat API; counts: where the rate limits are counted (this process by default)."""
    router = APIRouter(responses=ERROR_RESPONSES)
    limited = [Depends(per_ip(requests_per_ip, counts, "chat-ip"))]
    sessions = _Sessions(desk, per_session, counts)

    @router.get("/healthz", tags=["health"])
    def healthz() -> dict[str, object]:
        return {"status": "ok", "kb": desk.kb_name, "entries": len(desk.kb), "llm": llm}

    _chat_routes(router, sessions, limited)
    _after_reply_routes(router, sessions, limited)
    # an open widget reconnects about twice a minute while a person is involved: a budget
    # of its own, so that many customers behind one address keep their chat
    _event_routes(router, desk, [Depends(per_ip(EVENTS_PER_CHAT * requests_per_ip, counts,
                                                "events-ip"))])
    return router


class _Sessions:
    """What the chat routes share: the desk, the limit per conversation, a reply as JSON."""

    def __init__(self, desk: SupportDesk, per_session: int, counts: Storage | None) -> None:
        self.desk = desk
        self._by_session = RateLimiter(per_session, counts, "session")

    def limited(self, session_id: str | None) -> None:
        if session_id:
            limit(self._by_session, session_id, "in this conversation")

    def open(self, body: ChatRequest) -> str:
        """The request's conversation (a new one without a session id), within limits."""
        if body.kb and body.kb != self.desk.kb_name:
            raise ApiError(404, "unknown_kb", f"this server answers from knowledge base "
                           f"{self.desk.kb_name!r}, not {body.kb!r}")
        self.limited(body.session_id)
        return self.desk.start(body.session_id)

    def response(self, session_id: str, answer: Answer, ticket_id: str | None) -> ChatResponse:
        body = answer.to_json()
        body["sources"] = [source_json(s, self.desk.kb) for s in answer.sources]
        return ChatResponse(**body, ticket_id=ticket_id, session_id=session_id)


def _chat_routes(router: APIRouter, sessions: _Sessions, limited: list[Any]) -> None:
    desk = sessions.desk

    @router.post("/api/v1/chat", response_model=ChatResponse, tags=["chat"],
                 dependencies=limited)
    def chat(body: ChatRequest) -> ChatResponse:
        """One message, one JSON reply."""
        session_id = sessions.open(body)
        events = list(desk.chat(session_id, body.message))
        ticket_id = next((e.text for e in events if e.kind == "ticket"), None)
        return sessions.response(session_id, final_answer(events), ticket_id)

    @router.post("/api/v1/chat/stream", tags=["chat"], dependencies=limited,
                 response_class=StreamingResponse,
                 responses={200: {"content": {"text/event-stream": {}}, "description":
                            "Server-sent events: `session` {session_id}, `rewrite` {text}, "
                            "`queue` {position}, `ticket` {ticket_id}, `error` {log_id}, "
                            "and always last `answer` (a ChatResponse; after `error`, a "
                            "polite reply). Nothing kefu has not checked is sent."}})
    def chat_stream(body: ChatRequest) -> StreamingResponse:
        """One message, the reply as server-sent events: where it waits, then the answer."""
        session_id = sessions.open(body)

        def events() -> Iterator[str]:
            yield _sse("session", {"session_id": session_id})
            ticket_id = None
            chat = desk.chat(session_id, body.message)
            while True:
                try:
                    event = next(chat, None)
                except Exception:  # a defect, not a KefuError (the desk answers those)
                    chat = failed(reply_lang(body.message))
                    continue
                if event is None:
                    return
                if event.kind == "answer" and event.answer is not None:
                    yield _sse("answer", sessions.response(session_id, event.answer,
                                                           ticket_id).model_dump())
                elif event.kind == "ticket":
                    ticket_id = event.text
                    yield _sse("ticket", {"ticket_id": ticket_id})
                elif event.kind != "hits":
                    yield _sse(event.kind, _event_data(event))

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers=_SSE_HEADERS)


def _after_reply_routes(router: APIRouter, sessions: _Sessions, limited: list[Any]) -> None:
    desk = sessions.desk

    @router.post("/api/v1/feedback", status_code=204, tags=["chat"], dependencies=limited)
    def feedback(body: FeedbackRequest) -> None:
        """Thumbs up or down on one reply (the latest rating counts)."""
        if not desk.conversations.feedback(body.session_id, body.message_id, body.rating,
                                           body.comment):
            raise ApiError(404, "not_found", "no such reply in this conversation")

    @router.post("/api/v1/rating", status_code=204, tags=["chat"], dependencies=limited)
    def rating(body: RatingRequest) -> None:
        """The customer's rating of the whole conversation (the latest counts)."""
        if not desk.conversations.rate(body.session_id, body.stars, body.comment):
            raise ApiError(404, "not_found", f"no conversation {body.session_id!r}")

    @router.post("/api/v1/handoff", response_model=HandoffResponse, tags=["chat"],
                 dependencies=limited)
    def handoff(body: HandoffRequest) -> HandoffResponse:
        """Pass the conversation to a person: opens a ticket (or returns the open one)."""
        sessions.limited(body.session_id)
        session_id = desk.start(body.session_id)
        ticket, answer = desk.handoff(session_id, "button", body.contact)
        return HandoffResponse(ticket_id=ticket.id if ticket else None, answer=answer.answer,
                               message_id=answer.message_id, session_id=session_id)


def _event_routes(router: APIRouter, desk: SupportDesk, limited: list[Any]) -> None:
    @router.get("/api/v1/chat/events", tags=["chat"], dependencies=limited,
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}, "description":
                           "Server-sent events, each with its id (its number in the "
                           "conversation): `message` {id, text, author, created}, a person's "
                           "reply; `move` {id, move, state, author, created}, who answers now "
                           "(state bot | waiting | person | closed). The stream ends after "
                           "hold_s; reconnect with Last-Event-ID (an EventSource does) and "
                           "nothing is lost or repeated."}})
    async def chat_events(session_id: Annotated[str, Query(pattern=SESSION_ID),
                                                AfterValidator(_customers)],
                          after: int = Query(0, ge=0, description="Send only what came after "
                                             "this message number (Last-Event-ID wins)."),
                          hold_s: float = Query(EVENTS_HOLD_S, gt=0, le=60),
                          last_event_id: str = Header("", alias="Last-Event-ID")
                          ) -> StreamingResponse:
        """A person's replies and the conversation's moves, live, for the customer's page."""
        if not await run_in_threadpool(desk.conversations.exists, session_id):
            raise ApiError(404, "not_found", f"no conversation {session_id!r}")
        seen = int(last_event_id) if last_event_id.strip().isdigit() else after

        async def events(seen: int) -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            deadline = time.monotonic() + hold_s
            await run_in_threadpool(desk.expire_if_unclaimed, session_id)
            while True:
                for row in await run_in_threadpool(desk.conversations.since, session_id, seen):
                    seen = int(str(row["id"]))
                    yield f"id: {seen}\n{_sse(str(row.pop('kind')), row)}"
                if time.monotonic() >= deadline:
                    return
                await asyncio.sleep(EVENTS_POLL_S)

        return StreamingResponse(events(seen), media_type="text/event-stream",
                                 headers=_SSE_HEADERS)


def source_json(source: Source, kb: KnowledgeBase) -> dict[str, object]:
    """A source as the API shows it: with its entry's title, file and snippet."""
    entry = kb.get(source.id)
    out = source.to_json()
    if entry is not None:
        out |= {"title": entry.question or entry.source, "file": entry.source,
                "snippet": " ".join(entry.answer.split())[:240]}
    return out


def _event_data(event: Event) -> dict[str, object]:
    if event.kind == "queue":
        return {"position": event.position}
    if event.kind == "error":
        return {"log_id": event.text.removeprefix("log id ")}
    return {"text": event.text}


def _sse(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

