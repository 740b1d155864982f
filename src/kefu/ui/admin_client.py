"""RemoteEditor: `kefu kb` edits sent to the running server that holds the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from kefu.errors import KnowledgeBaseError
from kefu.knowledge_base.editor import entry_json, file_import
from kefu.knowledge_base.sync import SyncReport
from kefu.types import Entry


class RemoteEditor:
    def __init__(self, url: str, token: str, client: httpx.Client | None = None) -> None:
        if not token:
            raise KnowledgeBaseError(
                f"kefu serve holds this knowledge base ({url}); its edits go through the "
                "server's admin API: set KEFU_SERVER__ADMIN_TOKEN to the server's token")
        self._http = client or httpx.Client(base_url=url.rstrip("/"), timeout=60)
        self._http.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, "/api/v1/kb" + path, **kwargs)
        except httpx.HTTPError as exc:
            raise KnowledgeBaseError(f"cannot reach the kefu server: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise KnowledgeBaseError(f"the server refused: {message}")
        return response.json() if response.content else None

    def list(self, search: str = "") -> list[Entry]:
        return [_entry(row) for row in self._call("GET", "/entries", params={"search": search})]

    def show(self, entry_id: str) -> Entry:
        return _entry(self._call("GET", f"/entries/{quote(entry_id, safe='')}"))

    def put(self, entry: Entry) -> str:
        body = {k: v for k, v in entry_json(entry).items()
                if k in ("question", "answer", "lang", "category", "alt_questions")}
        return str(self._call("PUT", f"/entries/{quote(entry.id, safe='')}", json=body)["status"])

    def delete(self, entry_id: str) -> None:
        self._call("DELETE", f"/entries/{quote(entry_id, safe='')}")

    def put_file(self, path: Path) -> SyncReport:
        with path.open("rb") as data:
            return file_import(self._call("POST", "/files", files={"file": (path.name, data)}))

    def delete_file(self, name: str) -> int:
        return int(self._call("DELETE", f"/files/{quote(name, safe='')}")["removed"])


def _entry(row: dict[str, Any]) -> Entry:
    return Entry(**(row | {"alt_questions": tuple(row.get("alt_questions", ()))}))
