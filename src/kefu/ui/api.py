"""The HTTP API: POST /api/v1/chat and GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kefu.agent.conversations import ConversationStore
from kefu.agent.ladder import Agent

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


def build_router(agent: Agent, conversations: ConversationStore, kb_name: str,
                 llm: str) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "kb": kb_name, "entries": len(agent.retriever.kb), "llm": llm}

    @router.post("/api/v1/chat", response_model=ChatResponse)
    def chat(request: ChatRequest) -> ChatResponse:
        session_id = conversations.open(request.session_id, kb_name)
        answer = agent.ask(request.message, conversations.history(session_id))
        conversations.append(session_id, "user", request.message)
        conversations.append(session_id, "assistant", answer.answer, answer.route,
                             answer.sources)
        return ChatResponse(**answer.to_json(), session_id=session_id)  # type: ignore[arg-type]

    return router
