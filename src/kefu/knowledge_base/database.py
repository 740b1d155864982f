"""The knowledge base's SQLite adapter: its database is opened here, and this is the one
place sqlite3's errors ("database is locked", a full disk, a damaged file) become
StorageError. (Conversations and tickets: storage/database.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from kefu.errors import StorageError
from kefu.storage.sqlite import BUSY_TIMEOUT_S, sqlite_hint


class Database(sqlite3.Connection):
    """A connection whose statements raise StorageError, naming the file."""

    path = ""

    def execute(self, *args: Any) -> sqlite3.Cursor:
        return self._translated(super().execute, *args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        return self._translated(super().executemany, *args)

    def executescript(self, *args: Any) -> sqlite3.Cursor:
        return self._translated(super().executescript, *args)

    def commit(self) -> None:
        self._translated(super().commit)

    def __exit__(self, *exc_info: Any) -> Any:  # `with db:` commits or rolls back
        return self._translated(super().__exit__, *exc_info)

    def _translated(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except sqlite3.Error as exc:
            raise StorageError(f"the database {self.path} could not be used: {exc}"
                               f"{sqlite_hint(str(exc))}") from exc


def open_database(path: Path) -> Database:
    """The SQLite file at path (created with its folder if new), shared across threads."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_S,
                             factory=Database)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"cannot open the database {path}: {exc}") from exc
    assert isinstance(db, Database)
    db.path = str(path)
    return db
