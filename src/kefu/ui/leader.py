"""Several kefu workers answer customers alike, but the background jobs (machine
translations, the retention sweep, webhooks to resend) must run once per knowledge base: in
the worker that holds its background lock. On one box that is a file lock; with
store.database_url (workers on several boxes) a PostgreSQL session lock."""

from __future__ import annotations

import fcntl
from typing import IO

from kefu.config import Settings
from kefu.storage.database import hold_lock

_held: list[IO[str]] = []  # the lock files this process holds, open for its lifetime


def runs_background_jobs(settings: Settings, kb_name: str) -> bool:
    """True for the first process to ask for kb_name (it keeps the lock until it exits, and
    the next one to ask after that takes over); False for the others."""
    if settings.store.database_url:
        return hold_lock(settings.store.database_url, f"kefu background jobs: {kb_name}")
    kb_dir = settings.kb_dir / kb_name
    kb_dir.mkdir(parents=True, exist_ok=True)
    lock = (kb_dir / "background.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return False
    _held.append(lock)
    return True
