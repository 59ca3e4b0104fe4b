"""The same schema, permissions and job queue on a real PostgreSQL server.

External tier: runs when COPILOT_TEST_DATABASE_URL names an empty database the test may
wipe (CI starts a local server for it); skipped otherwise."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import func, select, text

from bot.app import App
from bot.core import access
from bot.core.identity import Identity, resolve_user
from bot.core.jobs import JobContext
from bot.core.models import Account, JobStatus
from bot.core.settings import Settings
from bot.demo.org import build_org
from bot.infra.jobs import DatabaseJobQueue
from tests.conftest import DEMO_DAY
from tests.unit.test_access import EXPECTED, build_world, check_rule
from tests.unit.test_foundation_jobs import enqueue_race

URL = os.environ.get("COPILOT_TEST_DATABASE_URL")
pytestmark = [pytest.mark.external, pytest.mark.skipif(not URL, reason="COPILOT_TEST_DATABASE_URL not set")]


@pytest.fixture
def pg_app(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=URL, llm_provider="none")
    app = App(settings, migrate=False)
    with app.db.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    app.db.migrate()
    with app.db.session() as session:
        build_org(session, settings.demo_seed, DEMO_DAY)
    yield app
    app.close()


def test_demo_org_and_permissions_on_postgres(pg_app) -> None:
    with pg_app.db.session() as session:
        rep = Identity.from_user(resolve_user(session, "li.wei"))
        manager = Identity.from_user(resolve_user(session, "wang.fang"))
        count = lambda who: session.scalar(  # noqa: E731
            select(func.count()).select_from(Account).where(access.accounts(who).clause(Account))
        )
        assert count(rep) == 10 and count(manager) == 30


def test_the_access_table_holds_on_postgres(pg_app) -> None:
    world = build_world(pg_app)
    for resource, record in sorted(EXPECTED):
        check_rule(pg_app, world, resource, record)


def test_concurrent_workers_on_postgres_take_each_job_once(pg_app) -> None:
    taken: list[int] = []
    lock = threading.Lock()

    def handler(ctx: JobContext) -> None:
        with lock:
            taken.append(ctx.job.id)

    queues = [pg_app.jobs, DatabaseJobQueue(pg_app.db)]
    for queue in queues:
        queue.register("w", handler)
    ids = {pg_app.jobs.enqueue("w", {"i": i})[0] for i in range(30)}
    threads = [threading.Thread(target=q.run_until_idle) for q in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)
    assert all(pg_app.jobs.get(i).status is JobStatus.DONE for i in ids)


def test_a_retry_racing_itself_on_postgres_is_queued_once(pg_app) -> None:
    results = enqueue_race(pg_app.jobs)
    assert sum(created for _id, created in results) == 1
    assert len({job_id for job_id, _created in results}) == 1
