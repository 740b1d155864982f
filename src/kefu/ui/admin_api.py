"""Admin HTTP API behind a bearer token: knowledge base entries (list, show, put, delete)
and files (upload, remove); tickets (list, show, close) and conversations (list, read,
export)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from kefu.agent.desk import SupportDesk
from kefu.agent.export import Format
from kefu.errors import KefuError, KnowledgeBaseError, TicketClosed, TicketError
from kefu.knowledge_base.editor import entry_json, file_import_json
from kefu.ui.admin_service import AdminService, EntryForm
from kefu.ui.errors import ERROR_RESPONSES, ApiError


class EntryIn(BaseModel):
    question: str | None = Field(None, max_length=20_000)
    answer: str | None = Field(None, max_length=20_000)
    lang: str | None = Field(None, description="zh | en; detected when omitted")
    category: str | None = None
    alt_questions: list[str] | None = None


class CloseRequest(BaseModel):
    note: str = Field("", max_length=2000, description="What was done, kept with the ticket.")


def _error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def admin_guard(token: str):
    """The dependency every admin endpoint shares: a bearer token, or 401/403."""
    def authorised(authorization: str = Header("", description="Bearer <admin token>")) -> None:
        if not token:
            raise _error(403, "admin_disabled", "the admin API is off; set "
                         "KEFU_SERVER__ADMIN_TOKEN and restart kefu serve")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(),
                                                                     token.encode()):
            raise _error(401, "unauthorised", "a valid admin bearer token is required")
    return authorised


def build_admin_router(desk: SupportDesk, token: str) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["admin"], responses=ERROR_RESPONSES,
                       dependencies=[Depends(admin_guard(token))])
    admin = AdminService(desk)
    _entry_routes(router, admin)
    _file_routes(router, admin)
    _ticket_routes(router, admin)
    _conversation_routes(router, admin)
    return router


def _entry_routes(router: APIRouter, admin: AdminService) -> None:
    @router.get("/kb/entries")
    def list_entries(search: str = "",
                     limit: int = Query(1000, ge=1, le=100_000)) -> list[dict[str, Any]]:
        return [entry_json(e) for e in admin.entries(search, limit)]

    @router.get("/kb/entries/{entry_id:path}")
    def show_entry(entry_id: str) -> dict[str, Any]:
        try:
            return entry_json(admin.entry(entry_id))
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc

    @router.put("/kb/entries/{entry_id:path}")
    def put_entry(entry_id: str, body: EntryIn) -> dict[str, str]:
        """Create the entry, or change the given fields of an existing one."""
        alts = tuple(body.alt_questions) if body.alt_questions is not None else None
        form = EntryForm(body.question, body.answer, body.lang, body.category, alts)
        try:
            _, status = admin.put_entry(entry_id, form)
        except KnowledgeBaseError as exc:
            raise _error(422, "invalid_entry", str(exc)) from exc
        return {"id": entry_id, "status": status}

    @router.delete("/kb/entries/{entry_id:path}", status_code=204)
    def delete_entry(entry_id: str) -> None:
        try:
            admin.delete_entry(entry_id)
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc


def _file_routes(router: APIRouter, admin: AdminService) -> None:
    @router.post("/kb/files")
    def put_file(file: UploadFile) -> dict[str, Any]:
        """Import an uploaded FAQ file or document (a file of the same name is replaced)."""
        if not Path(file.filename or "").name:
            raise _error(422, "invalid_file", "the upload needs a file name")
        try:
            return file_import_json(admin.import_file(file.filename or "", file.file))
        except KefuError as exc:
            raise _error(422, "unreadable_file", str(exc)) from exc

    @router.delete("/kb/files/{name:path}")
    def delete_file(name: str) -> dict[str, int]:
        try:
            return {"removed": admin.delete_file(name)}
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc


def _ticket_routes(router: APIRouter, admin: AdminService) -> None:
    @router.get("/tickets")
    def list_tickets(status: Literal["open", "closed", "all"] = "open",
                     limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [t.to_json() for t in admin.tickets(status, limit)]

    @router.get("/tickets/{ticket_id}")
    def show_ticket(ticket_id: str) -> dict[str, Any]:
        try:
            return admin.ticket(ticket_id).to_json()
        except TicketError as exc:
            raise _error(404, "not_found", str(exc)) from exc

    @router.post("/tickets/{ticket_id}/close")
    def close_ticket(ticket_id: str, body: CloseRequest) -> dict[str, Any]:
        try:
            return admin.close_ticket(ticket_id, body.note).to_json()
        except TicketClosed as exc:
            raise _error(409, "conflict", str(exc)) from exc
        except TicketError as exc:
            raise _error(404, "not_found", str(exc)) from exc


def _conversation_routes(router: APIRouter, admin: AdminService) -> None:
    @router.get("/conversations/export", response_class=PlainTextResponse,
                responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
    def export_conversations(format: Format = "csv",  # noqa: A002 (the query's name)
                             since: float = Query(0.0, ge=0, description="Unix time: only "
                                                  "conversations continued since")
                             ) -> PlainTextResponse:
        """Conversations with routes, sources, thumbs, ratings and handoff times: CSV (a
        message per row) or JSON lines (a conversation per line)."""
        text = admin.export(format, since)
        kind = "text/csv" if format == "csv" else "application/x-ndjson"
        return PlainTextResponse(text, media_type=f"{kind}; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="conversations.{format}"'})

    @router.get("/conversations")
    def list_conversations(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return admin.conversations(limit)

    @router.get("/conversations/{session_id}")
    def show_conversation(session_id: str) -> list[dict[str, Any]]:
        transcript = admin.transcript(session_id)
        if transcript is None:
            raise _error(404, "not_found", f"no conversation {session_id!r}")
        return transcript
