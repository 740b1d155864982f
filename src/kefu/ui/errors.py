"""Every HTTP error is JSON with a stable code and a message: {"code": ..., "message": ...}.

A customer never sees a traceback: anything unexpected becomes 500 `internal_error` with a
polite message and a log id that finds the traceback in the server's log.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kefu.errors import KefuError, KnowledgeBaseError, StorageError

log = logging.getLogger("kefu.api")


class ErrorOut(BaseModel):
    code: str = Field(..., description="Stable, for programs: invalid_request, unauthorised, "
                      "admin_disabled, not_found, rate_limited, unknown_kb, unavailable, "
                      "internal_error…")
    message: str = Field(..., description="For people.")
    log_id: str | None = Field(None, description="Set on internal errors; quote it to support.")


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail={"code": code, "message": message}, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (422, "The request does not fit the schema."),
        (429, "Too many messages; wait Retry-After seconds."),
        (500, "Something went wrong on our side."),
        (503, "A store kefu needs is not available (a locked or full database, the vector "
              "server); try again after Retry-After seconds."))}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {
            "code": _CODES.get(exc.status_code, "error"), "message": str(exc.detail)}
        return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
            for err in exc.errors())
        return JSONResponse({"code": "invalid_request", "message": problems[:500]},
                            status_code=422)

    @app.exception_handler(StorageError)
    @app.exception_handler(KnowledgeBaseError)
    async def unavailable(request: Request, exc: KefuError) -> JSONResponse:
        log_id = uuid.uuid4().hex[:8]
        log.error("%s %s: %s (log id %s)", request.method, request.url.path, exc, log_id)
        return JSONResponse({"code": "unavailable", "log_id": log_id,
                             "message": "Sorry, we cannot answer right now. Please try again "
                                        "in a moment."}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log_id = uuid.uuid4().hex[:8]
        log.exception("%s %s failed (log id %s)", request.method, request.url.path, log_id)
        return JSONResponse({"code": "internal_error", "log_id": log_id,
                             "message": "Sorry, something went wrong on our side. Please try "
                                        "again in a moment."}, status_code=500)


_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorised", 403: "forbidden"}
