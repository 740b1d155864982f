"""What every kefu SQLite file shares (the conversations' in storage/database.py, the
knowledge base's in knowledge_base/database.py): how long a write waits for another
process, and what to do about the errors a person can act on."""

from __future__ import annotations

BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's (kefu kb, kefu ingest)
_HINTS = {"database is locked": " (another process held it too long; try again)",
          "database or disk is full": " (free some disk space)",
          "file is not a database": " (the file is damaged; restore it from a backup)"}


def sqlite_hint(message: str) -> str:
    """What to do about an SQLite error with this message ('' when nothing to add)."""
    return _HINTS.get(message, "")
