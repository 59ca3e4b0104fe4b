"""The SQLite engine's write discipline and the database URL check."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

import bot.core.db
from bot.core.db import Database
from bot.core.errors import ConfigurationError
from bot.core.models import Job
from bot.core.settings import Settings


def test_commits_reach_the_database_file_without_waiting_for_the_log_to_fill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.core.db, "CHECKPOINT_EVERY_S", 0.05)
    database = Database(Settings(_env_file=None, data_dir=tmp_path / "data"))
    database.migrate()
    try:
        with database.session() as session:
            session.add_all(Job(kind="echo", payload={"n": n}) for n in range(5))
        file = Path(database.engine.url.database)
        copy = tmp_path / "without-the-log.db"
        for _ in range(100):  # up to 5 s; one round of the checkpointer is enough
            time.sleep(0.05)
            shutil.copyfile(file, copy)  # the file alone, without its -wal: what a checkpoint wrote
            with sqlite3.connect(copy) as reader:
                try:
                    if reader.execute("select count(*) from jobs").fetchone()[0] == 5:
                        break
                except sqlite3.OperationalError:
                    pass  # the schema itself is not checkpointed yet
        else:
            pytest.fail("the write-ahead log was never checkpointed into the database file")
    finally:
        database.dispose()
    assert not database._checkpointer.thread.is_alive()


def test_an_unsupported_database_url_is_refused_with_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SQLite or PostgreSQL"):
        Database(Settings(_env_file=None, data_dir=tmp_path, database_url="mysql://db/copilot"))
