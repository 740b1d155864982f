"""Several kefu workers on one box (`kefu serve --workers N`) answer customers alike, but
the box-wide background jobs (machine translations, the retention sweep, webhooks to
resend) must run once: in the worker that holds the knowledge base's background lock."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

_held: list[IO[str]] = []  # the lock files this process holds, open for its lifetime


def runs_background_jobs(kb_dir: Path) -> bool:
    """True for the first process on this box to ask for kb_dir (it keeps the lock until it
    exits, and the next one to start after that takes over); False for the others."""
    kb_dir.mkdir(parents=True, exist_ok=True)
    lock = (kb_dir / "background.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return False
    _held.append(lock)
    return True
