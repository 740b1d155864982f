"""In-memory conversation sessions for the HTTP API (bounded; oldest dropped first)."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

from kefu.types import Message

MAX_SESSIONS = 10_000
MAX_TURNS = 20


class Sessions:
    def __init__(self) -> None:
        self._data: OrderedDict[str, list[Message]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, session_id: str | None) -> str:
        with self._lock:
            if session_id and session_id in self._data:
                self._data.move_to_end(session_id)
                return session_id
            session_id = session_id or uuid.uuid4().hex
            self._data[session_id] = []
            while len(self._data) > MAX_SESSIONS:
                self._data.popitem(last=False)
            return session_id

    def history(self, session_id: str) -> list[Message]:
        with self._lock:
            return list(self._data.get(session_id, []))

    def append(self, session_id: str, *messages: Message) -> None:
        with self._lock:
            turns = self._data.setdefault(session_id, [])
            turns.extend(messages)
            del turns[: max(0, len(turns) - 2 * MAX_TURNS)]
