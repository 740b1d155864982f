"""Admin HTTP API behind a bearer token: knowledge base entries (list, show, put, delete)
and files (upload, remove)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, UploadFile
from pydantic import BaseModel, Field

from kefu.errors import KefuError, KnowledgeBaseError
from kefu.knowledge_base.editor import EDITABLE, LocalEditor, edited, entry_json, new_entry
from kefu.knowledge_base.store import KnowledgeBase


class EntryIn(BaseModel):
    question: str | None = Field(None, max_length=20_000)
    answer: str | None = Field(None, max_length=20_000)
    lang: str | None = Field(None, description="zh | en; detected when omitted")
    category: str | None = None
    alt_questions: list[str] | None = None


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"code": code, "message": message})


def build_admin_router(kb: KnowledgeBase, token: str) -> APIRouter:
    editor = LocalEditor(kb)

    def authorised(authorization: str = Header("", description="Bearer <admin token>")) -> None:
        if not token:
            raise _error(403, "admin_disabled", "the admin API is off; set "
                         "KEFU_SERVER__ADMIN_TOKEN and restart kefu serve")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(),
                                                                     token.encode()):
            raise _error(401, "unauthorised", "a valid admin bearer token is required")

    router = APIRouter(prefix="/api/v1/kb", tags=["admin"], dependencies=[Depends(authorised)])

    @router.get("/entries")
    def list_entries(search: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        return [entry_json(e) for e in editor.list(search)[:limit]]

    @router.get("/entries/{entry_id:path}")
    def show_entry(entry_id: str) -> dict[str, Any]:
        try:
            return entry_json(editor.show(entry_id))
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc

    @router.put("/entries/{entry_id:path}")
    def put_entry(entry_id: str, body: EntryIn) -> dict[str, str]:
        """Create the entry, or change the given fields of an existing one."""
        changes = body.model_dump()
        try:
            current = kb.get(entry_id)
            if current is None:
                entry = new_entry(changes["question"] or "", changes["answer"] or "",
                                  changes["lang"] or "", changes["category"] or "",
                                  tuple(changes["alt_questions"] or ()), entry_id)
            else:
                entry = edited(current, {k: changes[k] for k in EDITABLE})
            return {"id": entry_id, "status": editor.put(entry)}
        except KnowledgeBaseError as exc:
            raise _error(422, "invalid_entry", str(exc)) from exc

    @router.delete("/entries/{entry_id:path}", status_code=204)
    def delete_entry(entry_id: str) -> None:
        try:
            editor.delete(entry_id)
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc

    @router.post("/files")
    def put_file(file: UploadFile) -> dict[str, Any]:
        """Import an uploaded FAQ file or document (a file of the same name is replaced)."""
        name = Path(file.filename or "").name
        if not name:
            raise _error(422, "invalid_file", "the upload needs a file name")
        with tempfile.TemporaryDirectory(prefix="kefu-upload-") as folder:
            path = Path(folder) / name
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            try:
                return editor.put_file(path)
            except KefuError as exc:
                raise _error(422, "unreadable_file", str(exc).replace(folder + "/", "")) \
                    from exc

    @router.delete("/files/{name:path}")
    def delete_file(name: str) -> dict[str, int]:
        try:
            return {"removed": editor.delete_file(name)}
        except KnowledgeBaseError as exc:
            raise _error(404, "not_found", str(exc)) from exc

    return router
