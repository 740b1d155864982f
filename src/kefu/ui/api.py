"""The HTTP API: POST /api/v1/chat and GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kefu.agent.ladder import Agent
from kefu.types import Message
from kefu.ui.sessions import Sessions

MAX_MESSAGE_CHARS = 4000


class ChatRequest(BaseModel):
    message: str = Field(..., min_length=1, max_length=MAX_MESSAGE_CHARS,
                         description="The customer's message.")
    session_id: str | None = Field(None, max_length=64,
                                   description="Continue this conversation; omit to start one.")


class SourceOut(BaseModel):
    id: str
    score: float


class ChatResponse(BaseModel):
    answer: str
    route: str = Field(..., description="faq | rag | abstain")
    lang: str = Field(..., description="zh | en")
    sources: list[SourceOut]
    session_id: str


def build_router(agent: Agent, sessions: Sessions, kb_name: str, llm: str) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "kb": kb_name, "entries": len(agent.retriever.kb), "llm": llm}

    @router.post("/api/v1/chat", response_model=ChatResponse)
    def chat(request: ChatRequest) -> ChatResponse:
        session_id = sessions.open(request.session_id)
        answer = agent.ask(request.message, sessions.history(session_id))
        sessions.append(session_id, Message("user", request.message),
                        Message("assistant", answer.answer))
        return ChatResponse(**answer.to_json(), session_id=session_id)  # type: ignore[arg-type]

    return router
