"""An OpenAI-compatible POST /v1/chat/completions, so existing chat clients and SDKs can talk
to kefu; the answer ladder runs behind it (the client's model and sampling settings are
ignored: kefu answers as kefu).

The customer's last message is the question and the earlier ones its conversation. With a
`user` field the conversation is also kept by kefu (so "yes" to the offer of a human opens a
ticket); without one each request stands alone. A streamed reply is kefu's whole, checked
answer sent in small chunks (kefu never sends text it has not checked).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from limits.storage import Storage
from pydantic import BaseModel, Field

from kefu.agent.desk import SupportDesk
from kefu.types import Answer, Message, final_answer
from kefu.ui.api import OPENAI_SESSIONS
from kefu.ui.errors import ERROR_RESPONSES, ApiError
from kefu.ui.limits import per_ip

MODEL_ID = "kefu"
CHUNK_CHARS = 16


class ChatMessageIn(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = Field(
        None, description="Text, or a list of content parts of which the text ones are read.")


class CompletionRequest(BaseModel):
    model: str = Field(MODEL_ID, max_length=200)
    messages: list[ChatMessageIn] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    user: str | None = Field(None, max_length=200, description="A stable id of the customer: "
                             "kefu then keeps the conversation (and can open tickets).")
    # accepted and ignored, so that SDK defaults do not fail
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None


def _text(message: ChatMessageIn) -> str:
    if isinstance(message.content, list):
        return " ".join(str(part.get("text", "")) for part in message.content
                        if part.get("type") == "text")
    return message.content or ""


def build_openai_router(desk: SupportDesk, requests_per_ip: int,
                        counts: Storage | None = None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai-compatible"], responses=ERROR_RESPONSES)

    @router.get("/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model",
                                            "created": 0, "owned_by": "kefu"}]}

    limited = Depends(per_ip(requests_per_ip, counts, "openai-ip"))

    @router.post("/chat/completions", dependencies=[limited])
    def completions(body: CompletionRequest) -> Any:
        turns = [Message(m.role, _text(m)) for m in body.messages
                 if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
            raise ApiError(422, "invalid_request", "the last message must be the customer's "
                           "(role 'user') and not empty")
        session = (OPENAI_SESSIONS + hashlib.sha256(body.user.encode()).hexdigest()[:32]
                   if body.user else None)
        session_id = desk.start(session, turns[:-1])
        answer = final_answer(desk.chat(session_id, turns[-1].content[:4000], live=False))
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            return StreamingResponse(_chunks(completion_id, answer),
                                     media_type="text/event-stream")
        return {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                "model": MODEL_ID,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": _content(answer)}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "kefu": answer.to_json()}

    return router


def _content(answer: Answer) -> str:
    """The reply as one text: "did you mean" questions are listed under it."""
    lines = [answer.answer, *(f"{i}. {q}" for i, q in enumerate(answer.suggestions, 1))]
    return "\n".join(lines)


def _chunks(completion_id: str, answer: Answer) -> Iterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant"})
    text = _content(answer)
    for start in range(0, len(text), CHUNK_CHARS):
        yield chunk({"content": text[start:start + CHUNK_CHARS]})
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"
