"""Conversations written out for the owner (`kefu export`, the admin page's download, the
admin API): JSON lines, one conversation each, or CSV, one message per row beside its
conversation's rating and handoff times. Times are UTC, ISO 8601."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

Format = Literal["csv", "jsonl"]
_TIMES = ("created", "updated", "handoff_requested", "handoff_claimed", "handoff_ended")
CONVERSATION_COLUMNS = ("session_id", "kb", "state", "rating", "rating_comment",
                        "handoff_requested", "handoff_claimed", "claimed_by", "handoff_ended")
MESSAGE_COLUMNS = ("message", "created", "role", "author", "content", "route", "sources",
                   "reason", "handoff", "thumb")


def write_export(conversations: Sequence[dict[str, Any]], out: TextIO, fmt: Format) -> int:
    """Write the conversations (ConversationStore.export()) to out; how many rows or lines
    were written (one per message in CSV, one per conversation in JSON lines)."""
    if fmt == "jsonl":
        for conversation in conversations:
            out.write(json.dumps(_timed(conversation), ensure_ascii=False) + "\n")
        return len(conversations)
    writer = csv.writer(out)
    writer.writerow(CONVERSATION_COLUMNS + MESSAGE_COLUMNS)
    rows = 0
    for conversation in conversations:
        head = [_cell(_timed(conversation)[c]) for c in CONVERSATION_COLUMNS]
        for message in conversation["messages"]:
            said = _timed(message) | {"message": message["id"],
                                      "sources": " ".join(message["sources"])}
            writer.writerow(head + [_cell(said[c]) for c in MESSAGE_COLUMNS])
            rows += 1
    return rows


def _timed(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its Unix times as ISO 8601 (UTC); its messages too."""
    out: dict[str, Any] = {k: _iso(v) if k in _TIMES else v for k, v in record.items()}
    if "messages" in out:
        out["messages"] = [_timed(m) for m in out["messages"]]
    return out


def _iso(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula (a customer's "=HYPERLINK(…)")
    starts with an apostrophe, as OWASP advises, so it stays text."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
