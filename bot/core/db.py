"""Database engine, sessions and migrations.

`Database(settings)` owns one engine and a session factory. `migrate()` brings the schema to
Alembic's head; it runs on every start, so a fresh data folder needs no separate step.
Services receive `Database.session` as their `SessionFactory`: each call is one unit of work.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings

__all__ = ["Database", "SessionFactory"]

SessionFactory = Callable[[], AbstractContextManager[Session]]
"""Opens a unit of work: `with sessions() as session: ...` commits on success, rolls back on error."""

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets webhook threads read while a job writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL is crash-safe for the application (only a power cut can lose the last
    # commits) and saves an fsync per commit: webhook acks depend on it.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoints (which fsync) run in Database's background thread, not inside whichever
    # commit crosses the threshold: that commit may be a webhook's before its ack.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_WRITER_WAIT_S = 30.0  # as long as SQLite's own busy timeout; past it, SQLite decides
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()
CHECKPOINT_EVERY_S = 2.0


def _writer_lock(path: str) -> threading.Lock:
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(path, threading.Lock())


class _TakingTurnsCursor(sqlite3.Cursor):
    connection: _TakingTurnsConnection

    def execute(self, sql: str, parameters: Any = ()) -> Self:
        self.connection.before(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any) -> Self:
        self.connection.before(sql)
        return super().executemany(sql, seq_of_parameters)


class _TakingTurnsConnection(sqlite3.Connection):
    """A connection whose write transactions take turns on a lock shared by every connection
    of this process to the same file.

    SQLite has one writer at a time. Left to itself, a writer that finds the file locked sleeps
    in its busy handler with growing naps (up to 100 ms each), so a burst of webhook acks each
    writing one row got a tail of hundreds of ms. Waiting on a lock instead wakes the next
    writer the moment the last one commits. Other processes still meet SQLite's busy timeout.
    """

    writer_lock: threading.Lock
    holds_writer_lock = False

    def before(self, sql: str) -> None:
        if not self.holds_writer_lock and sql.lstrip()[:7].upper().startswith(_WRITES):
            self.holds_writer_lock = self.writer_lock.acquire(timeout=_WRITER_WAIT_S)

    def _end_turn(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            self.writer_lock.release()

    def cursor(self, factory: Any = _TakingTurnsCursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()


class _Checkpointer:
    """Copies the write-ahead log into the database file every few seconds (PASSIVE: it never
    blocks readers or writers)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(CHECKPOINT_EVERY_S):
            try:
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # the next round tries again; the log only grows meanwhile
                logger.warning("WAL checkpoint failed", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        if self.url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30, "factory": _TakingTurnsConnection},
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            lock = _writer_lock(self.engine.url.database or ":memory:")
            event.listen(self.engine, "connect", lambda connection, _record: setattr(connection, "writer_lock", lock))
            self._checkpointer: _Checkpointer | None = _Checkpointer(self.engine)
        elif self.url.startswith("postgresql"):
            self.engine = create_engine(self.url, pool_pre_ping=True)
            self._checkpointer = None
        else:
            raise ConfigurationError(
                "DATABASE_URL must be a SQLite or PostgreSQL URL (sqlite:///... or postgresql+psycopg://...)."
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        config.attributes["engine"] = self.engine
        # Data migrations that reach outside the database (the vector store) read their settings here.
        config.attributes["settings"] = self.settings
        return config

    def migrate(self) -> None:
        command.upgrade(self.alembic_config(), "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
