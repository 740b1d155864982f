"""The staff's HTTP API under /api/v1/agent: the queue of conversations waiting for a person
or held by one, and the moves a person makes (claim, reply, release, close). A person signs
in with HTTP Basic (their name and the password set by `kefu agents add NAME`); the owner
with the admin bearer token, naming the person a claim is for."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Header
from limits.storage import Storage
from pydantic import BaseModel, Field

from kefu.agent.desk import SupportDesk
from kefu.agent.handover import Move
from kefu.errors import HandoverError
from kefu.ui.api import SESSION_ID, source_json
from kefu.ui.errors import ERROR_RESPONSES, ApiError
from kefu.ui.limits import per_ip

MAX_REPLY_CHARS = 4000


@dataclass(frozen=True)
class Signed:
    """Who called: a person of the staff (name), or the owner (name '')."""

    name: str

    @property
    def owner(self) -> bool:
        return not self.name


class ClaimRequest(BaseModel):
    agent: str = Field("", max_length=40, description="Whom the owner claims the "
                       "conversation for; a person claims it for themselves.")


class ReplyRequest(BaseModel):
    text: str = Field(..., min_length=1, max_length=MAX_REPLY_CHARS)


class Moved(BaseModel):
    session_id: str
    state: str = Field(..., description="bot | waiting | person | closed")
    agent: str = Field(..., description="The person holding the conversation, or ''.")
    message_id: int = Field(..., description="The move's (or the reply's) number in the "
                            "conversation: the id of its event in /api/v1/chat/events.")


def staff_guard(desk: SupportDesk, token: str):
    """A person's name and password (HTTP Basic), or the admin bearer token; else 401."""
    def signed(authorization: str = Header("", description="Basic <name:password> of a "
                                            "person of the staff, or Bearer <admin token>")
               ) -> Signed:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and token and secrets.compare_digest(
                given.encode(), token.encode()):
            return Signed("")
        if scheme.lower() == "basic":
            name, _, password = _basic(given).partition(":")
            if name and desk.staff.check(name, password):
                desk.staff.seen(name)
                return Signed(name)
        raise ApiError(401, "unauthorised", "sign in with a staff name and password (`kefu "
                       "agents add NAME`) or the admin bearer token")
    return signed


def _basic(given: str) -> str:
    try:
        return base64.b64decode(given, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def build_agent_router(desk: SupportDesk, token: str, requests_per_ip: int,
                       counts: Storage | None = None) -> APIRouter:
    """The staff's API; requests_per_ip a minute from one address (guessing a password
    costs a PBKDF2 each), counted like the chat's."""
    router = APIRouter(prefix="/api/v1/agent", tags=["agent"], responses=ERROR_RESPONSES,
                       dependencies=[Depends(per_ip(requests_per_ip, counts, "staff-ip"))])
    signed = Depends(staff_guard(desk, token))
    store = desk.conversations

    @router.get("/queue")
    def queue(who: Signed = signed) -> list[dict[str, Any]]:
        """Conversations waiting for a person (longest waiting first) or held by one."""
        return store.queue()

    @router.get("/conversations/{session_id}")
    def conversation(session_id: str, who: Signed = signed) -> dict[str, Any]:
        """Who holds the conversation, and every message and move of it."""
        state, person = _state(desk, session_id)
        return {"session_id": session_id, "state": state, "agent": person,
                "messages": store.transcript(session_id)}

    @router.get("/conversations/{session_id}/suggestion")
    def suggestion(session_id: str, who: Signed = signed) -> dict[str, Any]:
        """What kefu would answer the customer's last message, with its sources (for the
        person to edit and send; nothing reaches the customer)."""
        _state(desk, session_id)
        answer = desk.suggestion(session_id)
        return {"answer": "", "route": "", "sources": []} if answer is None else {
            "answer": answer.answer, "route": answer.route,
            "sources": [source_json(s, desk.kb) for s in answer.sources]}

    @router.post("/conversations/{session_id}/claim", response_model=Moved)
    def claim(session_id: str, body: ClaimRequest | None = None,
              who: Signed = signed) -> Moved:
        """Take the conversation (409 when another person holds it)."""
        person = who.name or (body.agent.strip() if body else "")
        if who.owner and person not in desk.staff.names():
            raise ApiError(422, "unknown_agent", "name a person of the staff to claim for "
                           f"(`kefu agents add NAME`); {person!r} is not one")
        return _moved(desk, session_id, "claim", person, who)

    @router.post("/conversations/{session_id}/messages", response_model=Moved)
    def say(session_id: str, body: ReplyRequest, who: Signed = signed) -> Moved:
        """A reply to the customer, from the person holding the conversation."""
        _state(desk, session_id)
        try:
            seq = store.say_as_person(session_id, who.name, body.text, owner=who.owner)
        except HandoverError as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        state, person = store.state(session_id)
        return Moved(session_id=session_id, state=state, agent=person, message_id=seq)

    @router.post("/conversations/{session_id}/release", response_model=Moved)
    def release(session_id: str, who: Signed = signed) -> Moved:
        """Give the conversation back to the bot."""
        return _moved(desk, session_id, "release", who.name, who)

    @router.post("/conversations/{session_id}/close", response_model=Moved)
    def close(session_id: str, who: Signed = signed) -> Moved:
        """End the conversation (the customer's next message starts with the bot again)."""
        return _moved(desk, session_id, "close", who.name, who)

    return router


def _state(desk: SupportDesk, session_id: str) -> tuple[str, str]:
    if not _valid(session_id) or not desk.conversations.exists(session_id):
        raise ApiError(404, "not_found", f"no conversation {session_id!r}")
    return desk.conversations.state(session_id)


def _moved(desk: SupportDesk, session_id: str, move: Move, person: str, who: Signed) -> Moved:
    _state(desk, session_id)
    try:
        seq = desk.move(session_id, move, person, owner=who.owner)
    except HandoverError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    state, holder = desk.conversations.state(session_id)
    return Moved(session_id=session_id, state=state, agent=holder, message_id=seq)


def _valid(session_id: str) -> bool:
    return re.fullmatch(SESSION_ID.strip("^$"), session_id) is not None
