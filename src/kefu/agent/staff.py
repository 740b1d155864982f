"""The shop's staff who answer customers in kefu's conversations (`kefu agents add NAME`):
names and salted password hashes in the conversation database."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from functools import cache
from pathlib import Path

from sqlalchemy import delete, select, update

from kefu.errors import HandoverError
from kefu.storage.database import open_database
from kefu.storage.tables import staff

ITERATIONS = 200_000  # PBKDF2-SHA256, as OWASP advised for it in 2021 (600,000 since 2023)
NAME = re.compile(r"^[^\s:/][^:/]{0,39}$")  # shown to customers; a colon would break Basic auth
MIN_PASSWORD = 8
PRESENT_S = 120.0  # a person seen this recently is at work (the inbox asks every 2 s)


class StaffStore:
    def __init__(self, location: Path | str) -> None:
        self._db = open_database(location)

    def add(self, name: str, password: str) -> bool:
        """Add a person, or set a new password for one; True when the name is new."""
        name = name.strip()
        if not NAME.match(name):
            raise HandoverError(f"{name!r} cannot be a name: 1 to 40 characters, no ':' or "
                                "'/' and not starting with a space")
        if len(password) < MIN_PASSWORD:
            raise HandoverError(f"a password needs at least {MIN_PASSWORD} characters")
        row = {"password": _hashed(password), "created": time.time(), "last_seen": 0.0}
        with self._db.begin() as db:
            new = db.execute(select(staff.c.name).where(staff.c.name == name)).first() is None
            self._db.upsert(db, staff, [{"name": name, **row}])
        return new

    def remove(self, name: str) -> bool:
        with self._db.begin() as db:
            return bool(db.execute(delete(staff).where(staff.c.name == name)).rowcount)

    def names(self) -> list[str]:
        with self._db.read() as db:
            return list(db.execute(select(staff.c.name).order_by(staff.c.name)).scalars())

    def seen(self, name: str) -> None:
        """name is at work now (the inbox open, the staff API used)."""
        with self._db.begin() as db:
            db.execute(update(staff).where(staff.c.name == name).values(last_seen=time.time()))

    def present(self, within_s: float = PRESENT_S) -> list[str]:
        """The people at work within the last within_s seconds."""
        with self._db.read() as db:
            return list(db.execute(select(staff.c.name).where(
                staff.c.last_seen >= time.time() - within_s)).scalars())

    def check(self, name: str, password: str) -> bool:
        """Whether password is name's (in constant time whether or not the name exists)."""
        with self._db.read() as db:
            stored = db.execute(select(staff.c.password).where(staff.c.name == name)).scalar()
        return _matches(password, stored or _unknown()) and stored is not None


@cache
def _unknown() -> str:
    """A hash to check an unknown name's password against, so that it takes as long."""
    return _hashed(secrets.token_hex(16))


def _hashed(password: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def _matches(password: str, stored: str) -> bool:
    _, iterations, salt, _ = stored.split("$")
    return hmac.compare_digest(_hashed(password, salt, int(iterations)), stored)
