"""kefu's relational databases, through SQLAlchemy Core: the conversation database
(sessions, messages, feedback, tickets) and each knowledge base's bookkeeping (entries, BM25
tokens, settings, twins). SQLite files under KEFU_HOME by default; PostgreSQL
(store.database_url) for several workers, a knowledge base's tables in a schema of its own.
Opened here once per process and address, the tables brought up to date by their chain of
Alembic migrations (storage/migrations/<chain>) on first open; the one place their errors
become StorageError, naming the database (never its password)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from kefu.errors import ConfigError, StorageConflict, StorageError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 20261203  # PostgreSQL advisory lock id held while the schema is migrated
BUSY_TIMEOUT_S = 10.0  # how long an SQLite write waits for another process's (kefu ingest)
_HINTS = {"database is locked": " (another process held it too long; try again)",
          "database or disk is full": " (free some disk space)",
          "file is not a database": " (the file is damaged; restore it from a backup)"}
Tables = Literal["conversations", "knowledge_base"]  # a chain of migrations each


class Database:
    """One database: connections from its pool, errors as StorageError."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = _without_password(str(engine.url))

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed at the end (rolled back on an error)."""
        with self._translated(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a transaction that only reads: on SQLite it does not take the
        write lock, so it never waits for a writer (WAL)."""
        with (self._translated(),
              self.engine.connect().execution_options(kefu_reads_only=True) as connection,
              connection.begin()):
            yield connection

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT for table, so that on_conflict_do_nothing / _do_update
        work on both SQLite and PostgreSQL."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def upsert(self, connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows, replacing those with the same primary key."""
        if not rows:
            return
        statement = self.insert(table)
        keys = [column.name for column in table.primary_key]
        connection.execute(statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: statement.excluded[name] for name in rows[0] if name not in keys}),
            rows)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip()
            error = StorageConflict if isinstance(exc, IntegrityError) else StorageError
            raise error(f"the database {self.name} could not be used: {cause}"
                               f"{_HINTS.get(cause, '')}") from exc


_open: dict[tuple[str, str], Database] = {}
_open_lock = threading.Lock()


def database_url(location: Path | str) -> str:
    """A SQLAlchemy address: a path is an SQLite file; postgresql:// uses psycopg 3."""
    if isinstance(location, Path):
        return f"sqlite:///{location}"
    if location.startswith("postgresql://") or location.startswith("postgres://"):
        return "postgresql+psycopg://" + location.split("://", 1)[1]
    return location


def open_database(location: Path | str, tables: Tables = "conversations",
                  schema: str = "") -> Database:
    """The database at location (an SQLite file, created with its folder if new, or a
    database_url), its tables migrated to the newest; one per address and process. schema:
    on PostgreSQL, the tables live in that schema (created if new; a knowledge base's name);
    an SQLite file holds one set of tables and needs none."""
    url = database_url(location)
    if url.startswith("sqlite"):
        schema = ""
    with _open_lock:
        if (url, schema) not in _open:
            database = Database(_engine(url, location, schema))
            with database.begin() as connection:
                _upgrade(connection, tables)
            _open[url, schema] = database
        return _open[url, schema]


# A lock's connection notices a machine or network gone within about half a minute, so the
# server releases the lock and another worker takes over (TCP's default: two hours).
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
             "keepalives_count": 3, "tcp_user_timeout": 30_000}


def _engine(url: str, location: Path | str, schema: str, keepalive: bool = False) -> Engine:
    try:
        if url.startswith("sqlite"):
            if isinstance(location, Path):
                location.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _write_lock_first)
            return engine
        if not schema:
            return create_engine(url, pool_pre_ping=True,
                                 connect_args=KEEPALIVE if keepalive else {})
        _create_schema(url, schema)
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"options": f'-csearch_path="{schema}"'})
    except ImportError as exc:
        raise ConfigError(f"store.database_url {url.split('://')[0]}:// needs its driver: "
                          "pip install 'kefu[postgres]'") from exc
    except (SQLAlchemyError, OSError, ValueError) as exc:
        shown = location if isinstance(location, Path) else _without_password(url)
        raise StorageError(f"cannot open the database {shown}: {exc}") from exc


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return url.split("://", 1)[0] + "://…"


_held: list[Connection] = []  # the connections holding this process's PostgreSQL locks


def hold_lock(location: str, key: str) -> bool:
    """Take the PostgreSQL session lock named key for the rest of this process's life, on a
    connection of its own; False when another process, on any machine, holds it."""
    database = Database(_engine(database_url(location), location, "", keepalive=True))
    try:
        with database._translated():
            connection = database.engine.connect()
            taken = connection.execute(text("SELECT pg_try_advisory_lock(hashtext(:key))"),
                                       {"key": key}).scalar()
            connection.commit()  # a session lock outlives the transaction that took it
    except StorageError:
        database.engine.dispose()
        raise
    if taken:
        _held.append(connection)
    else:
        connection.close()
        database.engine.dispose()
    return bool(taken)


def has_schema(location: str, schema: str) -> bool:
    """True when the PostgreSQL database at location has the schema."""
    url = database_url(location)
    engine = _engine(url, location, "")
    try:
        with Database(engine).begin() as connection:
            return bool(connection.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                {"name": schema}).first())
    finally:
        engine.dispose()


def _create_schema(url: str, schema: str) -> None:
    """The PostgreSQL schema, made if missing (one worker at a time)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Readers do not wait for a writer (WAL); kefu begins transactions itself."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _write_lock_first(connection: Connection) -> None:
    """Every transaction but Database.read's takes SQLite's write lock at its start (waiting
    up to BUSY_TIMEOUT_S), so a read-then-write (the next message number) is never
    overtaken."""
    reads_only = connection.get_execution_options().get("kefu_reads_only")
    connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def _upgrade(connection: Connection, tables: Tables) -> None:
    """The tables brought to the newest migration of their chain; on PostgreSQL one worker
    at a time (the others wait for its lock, then find nothing to do)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", str(MIGRATIONS / tables))
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:  # e.g. tables another program made in the same place
        raise StorageError(f"the tables in the database could not be brought up to date: "
                           f"{exc}") from exc
