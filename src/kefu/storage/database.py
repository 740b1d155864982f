"""The conversation database (sessions, messages, feedback, tickets): SQLite, a file under
KEFU_HOME (the default), or PostgreSQL (store.database_url), through SQLAlchemy Core.
Opened here once per process and address, its schema brought up to date by the Alembic
migrations (storage/migrations) on first open; the one place its errors become
StorageError, naming the database (never its password)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kefu.errors import ConfigError, StorageConflict, StorageError
from kefu.storage.sqlite import BUSY_TIMEOUT_S, sqlite_hint

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 20261203  # PostgreSQL advisory lock id held while the schema is migrated


class Database:
    """One conversation database: connections from its pool, errors as StorageError."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed at the end (rolled back on an error)."""
        with self._translated(), self.engine.begin() as connection:
            yield connection

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT for table, so that on_conflict_do_nothing / _do_update
        work on both SQLite and PostgreSQL."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip()
            error = StorageConflict if isinstance(exc, IntegrityError) else StorageError
            raise error(f"the database {self.name} could not be used: {cause}"
                               f"{sqlite_hint(cause)}") from exc


_open: dict[str, Database] = {}
_open_lock = threading.Lock()


def database_url(location: Path | str) -> str:
    """A SQLAlchemy address: a path is an SQLite file; postgresql:// uses psycopg 3."""
    if isinstance(location, Path):
        return f"sqlite:///{location}"
    if location.startswith("postgresql://") or location.startswith("postgres://"):
        return "postgresql+psycopg://" + location.split("://", 1)[1]
    return location


def open_database(location: Path | str) -> Database:
    """The database at location (an SQLite file, created with its folder if new, or a
    database_url), migrated to the current schema; one per address and process."""
    url = database_url(location)
    with _open_lock:
        if url not in _open:
            database = Database(_engine(url, location))
            with database.begin() as connection:
                _upgrade(connection)
            _open[url] = database
        return _open[url]


def _engine(url: str, location: Path | str) -> Engine:
    try:
        if url.startswith("sqlite"):
            if isinstance(location, Path):
                location.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _write_lock_first)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:
        raise ConfigError(f"store.database_url {url.split('://')[0]}:// needs its driver: "
                          "pip install 'kefu[postgres]'") from exc
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise StorageError(f"cannot open the database {location}: {exc}") from exc


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Readers do not wait for a writer (WAL); kefu begins transactions itself."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _write_lock_first(connection: Connection) -> None:
    """Every transaction takes SQLite's write lock at its start (waiting up to
    BUSY_TIMEOUT_S), so a read-then-write (the next message number) is never overtaken."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade(connection: Connection) -> None:
    """The schema brought to the newest migration; on PostgreSQL one worker at a time (the
    others wait for its lock, then find nothing to do)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
