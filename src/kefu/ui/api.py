"""The HTTP API: chat, handoff and health; every reply comes from the support desk."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kefu.agent.desk import SupportDesk

MAX_MESSAGE_CHARS = 4000


class ChatRequest(BaseModel):
    message: str = Field(..., min_length=1, max_length=MAX_MESSAGE_CHARS,
                         description="The customer's message.")
    session_id: str | None = Field(None, max_length=64,
                                   description="Continue this conversation; omit to start one.")


class SourceOut(BaseModel):
    id: str
    score: float
    translated: bool = Field(False, description="The curated answer was translated by the "
                             "LLM from the other language.")


class ChatResponse(BaseModel):
    answer: str
    route: str = Field(..., description="faq | suggest | rag | abstain | refuse | handoff")
    lang: str = Field(..., description="zh | en")
    sources: list[SourceOut]
    suggestions: list[str] = Field(..., description="'Did you mean' questions (route "
                                   "suggest): send one back as the next message.")
    handoff: str = Field(..., description="'' | offer (show the human button) | accepted "
                         "(a ticket was opened)")
    rewritten: str = Field(..., description="The standalone question a follow-up was "
                           "understood as ('' when it was not rewritten).")
    ticket_id: str | None = Field(None, description="Set when this reply opened a ticket.")
    session_id: str


class HandoffRequest(BaseModel):
    session_id: str = Field(..., min_length=1, max_length=64)
    contact: str = Field("", max_length=200, description="Optional email or phone for staff.")


class HandoffResponse(BaseModel):
    ticket_id: str
    answer: str = Field(..., description="What to show the customer.")
    session_id: str


def build_router(desk: SupportDesk, llm: str) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "kb": desk.kb_name, "entries": len(desk.agent.retriever.kb),
                "llm": llm}

    @router.post("/api/v1/chat", response_model=ChatResponse)
    def chat(request: ChatRequest) -> ChatResponse:
        session_id = desk.start(request.session_id)
        answer, ticket_id = None, None
        for event in desk.chat(session_id, request.message):
            if event.kind == "answer":
                answer = event.answer
            elif event.kind == "ticket":
                ticket_id = event.text
        assert answer is not None
        return ChatResponse(**answer.to_json(), ticket_id=ticket_id,  # type: ignore[arg-type]
                            session_id=session_id)

    @router.post("/api/v1/handoff", response_model=HandoffResponse)
    def handoff(request: HandoffRequest) -> HandoffResponse:
        """Pass the conversation to a person: opens a ticket (or returns the open one)."""
        session_id = desk.start(request.session_id)
        ticket, answer = desk.handoff(session_id, "button", request.contact)
        return HandoffResponse(ticket_id=ticket.id, answer=answer.answer, session_id=session_id)

    return router
