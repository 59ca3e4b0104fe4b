import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.core.errors import InvalidInput
from bot.core.jobs import JobContext
from bot.core.models import Job, JobStatus
from bot.infra.jobs import DatabaseJobQueue, Worker


def test_dedupe_key_returns_the_existing_job(app) -> None:
    first, created = app.jobs.enqueue("echo", {"n": 1}, dedupe_key="slack:Ev1")
    again, created_again = app.jobs.enqueue("echo", {"n": 1}, dedupe_key="slack:Ev1")
    assert created and not created_again and first == again


def test_jobs_run_in_order_and_report_progress(app) -> None:
    seen: list[int] = []

    def handler(ctx: JobContext) -> dict:
        ctx.progress(0.5, "half way")
        assert app.jobs.get(ctx.job.id).progress_note == "half way"
        seen.append(ctx.payload["n"])
        return {"double": ctx.payload["n"] * 2}

    app.jobs.register("echo", handler)
    ids = [app.jobs.enqueue("echo", {"n": n})[0] for n in (1, 2, 3)]
    finished = app.jobs.run_until_idle()
    assert seen == [1, 2, 3]
    assert [j.id for j in finished] == ids
    assert all(j.status is JobStatus.DONE and j.progress == 1.0 for j in finished)
    assert finished[1].result == {"double": 4}


def test_expected_and_unexpected_failures_keep_the_job_with_a_reason(app) -> None:
    def bad_input(ctx: JobContext) -> None:
        raise InvalidInput("The audio file is corrupt: re-export it as WAV or MP3.")

    def crash(ctx: JobContext) -> None:
        raise RuntimeError("boom at /secret/path")

    app.jobs.register("bad", bad_input)
    app.jobs.register("crash", crash)
    bad_id, _ = app.jobs.enqueue("bad", {"file": "x.wav"})
    crash_id, _ = app.jobs.enqueue("crash", {})
    app.jobs.run_until_idle()
    bad = app.jobs.get(bad_id)
    assert bad.status is JobStatus.FAILED and "corrupt" in bad.error and bad.payload == {"file": "x.wav"}
    crashed = app.jobs.get(crash_id)
    assert crashed.status is JobStatus.FAILED and "/secret/path" not in crashed.error


def test_a_job_interrupted_mid_way_is_picked_up_again(app) -> None:
    runs: list[int] = []
    app.jobs.register("work", lambda ctx: runs.append(ctx.job.attempts) or {"ok": True})
    job_id, _ = app.jobs.enqueue("work", {})
    claimed = app.jobs.claim()
    assert claimed is not None and claimed.id == job_id
    # The worker dies here: no progress, no completion. A fresh process recovers it later.
    later = datetime.now(UTC) + timedelta(seconds=app.settings.job_stale_after_s + 1)
    assert app.jobs.recover(now=later) == 1
    app.jobs.run_until_idle()
    job = app.jobs.get(job_id)
    assert job.status is JobStatus.DONE and runs == [2]


def test_a_recent_heartbeat_is_not_recovered(app) -> None:
    app.jobs.register("work", lambda ctx: None)
    app.jobs.enqueue("work", {})
    app.jobs.claim()
    assert app.jobs.recover() == 0


def test_a_job_that_keeps_crashing_stops_after_max_attempts(app) -> None:
    job_id, _ = app.jobs.enqueue("work", {})
    with app.db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.RUNNING,
                attempts=app.jobs.max_attempts,
                heartbeat_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    app.jobs.recover()
    job = app.jobs.get(job_id)
    assert job.status is JobStatus.FAILED and "interrupted" in job.error


def test_two_workers_never_take_the_same_job(app) -> None:
    taken: list[int] = []
    lock = threading.Lock()

    def handler(ctx: JobContext) -> None:
        with lock:
            taken.append(ctx.job.id)

    app.jobs.register("w", handler)
    ids = {app.jobs.enqueue("w", {"i": i})[0] for i in range(20)}
    other = DatabaseJobQueue(app.db)
    other.register("w", handler)
    threads = [threading.Thread(target=q.run_until_idle) for q in (app.jobs, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)


def test_worker_threads_run_jobs_in_the_background_and_tell_listeners(app) -> None:
    done = threading.Event()
    finished = []
    app.jobs.register("bg", lambda ctx: {"ok": True})
    app.jobs.add_listener(lambda job: (finished.append(job), done.set()))
    worker = Worker(app.jobs, poll_s=0.05).start()
    try:
        job_id, _ = app.jobs.enqueue("bg", {})
        assert done.wait(10)
    finally:
        worker.stop()
    assert finished[0].id == job_id and finished[0].status is JobStatus.DONE


def enqueue_race(queue: DatabaseJobQueue, threads: int = 16) -> list[tuple[int, bool]]:
    """Every thread queues the same platform retry at once, plus an event of its own."""
    start = threading.Barrier(threads)
    results: list[tuple[int, bool]] = []
    own: list[bool] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        start.wait()
        retry = queue.enqueue("echo", {"n": 0}, dedupe_key="slack:EvRetried")
        _id, created = queue.enqueue("echo", {"n": n}, dedupe_key=f"slack:Ev{n}")
        with lock:
            results.append(retry)
            own.append(created)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(own) and len(own) == threads
    return results


def test_a_retry_racing_itself_across_threads_is_queued_once(app) -> None:
    results = enqueue_race(app.jobs)
    assert sum(created for _id, created in results) == 1
    assert len({job_id for job_id, _created in results}) == 1
