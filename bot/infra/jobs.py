"""The database-backed job queue behind `bot.core.jobs.JobQueue`, and its worker threads.

A webhook or CLI command `enqueue`s a job (a row in `jobs`) and returns at once. Workers
`claim` queued jobs atomically, report progress and a heartbeat, and end them `done` or
`failed` with a user-safe reason. On start, `recover()` puts back jobs whose worker died
mid-way (a stale heartbeat), so nothing is lost; a job that keeps crashing stops after
`job_max_attempts` and is marked failed with the reason.

Handlers are plain functions `handler(ctx: JobContext) -> dict | None` registered per kind.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.core.db import Database
from bot.core.errors import CopilotError
from bot.core.jobs import JobHandler, JobListener, JobView
from bot.core.models import Job, JobStatus, utcnow

__all__ = ["DatabaseJobQueue", "Worker"]

logger = logging.getLogger(__name__)


class _Context:
    """A running job's context: its view, and progress reports that are also its heartbeat."""

    def __init__(self, queue: DatabaseJobQueue, job: JobView) -> None:
        self.queue = queue
        self.job = job

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    def progress(self, fraction: float, note: str | None = None) -> None:
        self.queue.set_progress(self.job.id, fraction, note)


class DatabaseJobQueue:
    def __init__(self, db: Database, *, max_attempts: int = 3, stale_after_s: float = 120.0) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.stale_after = timedelta(seconds=stale_after_s)
        self._handlers: dict[str, JobHandler] = {}
        self._listeners: list[JobListener] = []
        self._wakeup = threading.Event()

    # --- registration --------------------------------------------------------------------
    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    def add_listener(self, listener: JobListener) -> None:
        """Called with every job this process finishes (done or failed), e.g. to tell the user."""
        self._listeners.append(listener)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    # --- producer side -------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        created_by_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> tuple[int, bool]:
        """Queue a job. Returns (job id, created); with a `dedupe_key` already used, the
        existing job's id and False: the way platform retries are answered once.

        One INSERT ... ON CONFLICT DO NOTHING RETURNING: webhooks call this before they ack,
        so it is a single short write, and two replicas racing on one retry cannot both win."""
        insert = sqlite_insert if self.db.engine.dialect.name == "sqlite" else postgresql_insert
        statement = insert(Job).values(
            kind=kind,
            payload=payload,
            created_by_id=created_by_id,
            dedupe_key=dedupe_key,
            status=JobStatus.QUEUED,
            progress=0.0,
            attempts=0,
            created_at=utcnow(),
        )
        if dedupe_key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        with self.db.engine.begin() as connection:
            job_id = connection.execute(statement.returning(Job.id)).scalar()
        if job_id is None:
            existing = self._find_by_key(dedupe_key) if dedupe_key else None
            if existing is None:  # the key's job was deleted in between: queue afresh
                return self.enqueue(kind, payload, created_by_id=created_by_id, dedupe_key=dedupe_key)
            return existing, False
        self._wakeup.set()
        return job_id, True

    def _find_by_key(self, dedupe_key: str) -> int | None:
        with self.db.session() as session:
            return session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))

    def get(self, job_id: int) -> JobView | None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            return JobView.of(job) if job else None

    # --- worker side ---------------------------------------------------------------------
    def claim(self, kinds: tuple[str, ...] | None = None) -> JobView | None:
        """Atomically take the oldest queued job (compare-and-set on status)."""
        kinds = kinds or self.kinds
        with self.db.session() as session:
            candidates = session.scalars(
                select(Job.id).where(Job.status == JobStatus.QUEUED, Job.kind.in_(kinds)).order_by(Job.id).limit(5)
            ).all()
            for job_id in candidates:
                now = utcnow()
                taken = session.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
                    update(Job)
                    .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                    .values(
                        status=JobStatus.RUNNING,
                        started_at=now,
                        heartbeat_at=now,
                        attempts=Job.attempts + 1,
                    )
                ).rowcount
                if taken:
                    session.flush()
                    job = session.get_one(Job, job_id)
                    session.refresh(job)
                    return JobView.of(job)
        return None

    def set_progress(self, job_id: int, fraction: float, note: str | None = None) -> None:
        with self.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(progress=max(0.0, min(1.0, fraction)), progress_note=note, heartbeat_at=utcnow())
            )

    def complete(self, job_id: int, result: dict[str, Any] | None) -> None:
        with self.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status=JobStatus.DONE, result=result, progress=1.0, finished_at=utcnow(), error=None)
            )

    def fail(self, job_id: int, reason: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(status=JobStatus.FAILED, error=reason, finished_at=utcnow())
            )

    def recover(self, *, now: datetime | None = None) -> int:
        """Requeue jobs left running by a dead worker; fail those out of attempts."""
        now = now or datetime.now(UTC)
        cutoff = now - self.stale_after
        requeued = 0
        with self.db.session() as session:
            stale = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
            for job in stale:
                beat = job.heartbeat_at or job.started_at
                if beat is not None and beat.tzinfo is None:
                    beat = beat.replace(tzinfo=UTC)
                if beat is not None and beat > cutoff:
                    continue
                if job.attempts >= self.max_attempts:
                    job.status = JobStatus.FAILED
                    job.error = (
                        f"The job was interrupted {job.attempts} times and was stopped. "
                        "Its input is kept; an admin can retry it."
                    )
                    job.finished_at = now
                else:
                    job.status = JobStatus.QUEUED
                    job.progress_note = "resumed after an interruption"
                    requeued += 1
        if requeued:
            logger.info("requeued %d interrupted job(s)", requeued)
            self._wakeup.set()
        return requeued

    def run_one(self, kinds: tuple[str, ...] | None = None) -> JobView | None:
        """Claim and run one job in this thread. Returns the finished job, or None if idle."""
        job = self.claim(kinds)
        if job is None:
            return None
        handler = self._handlers.get(job.kind)
        if handler is None:
            self.fail(job.id, f"No handler for job kind '{job.kind}'.")
            return self.get(job.id)
        try:
            result = handler(_Context(self, job))
        except CopilotError as exc:
            logger.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            self.fail(job.id, exc.user_message)
        except Exception:
            logger.exception("job %s (%s) crashed", job.id, job.kind)
            self.fail(job.id, "An internal error stopped this job. Its input is kept; an admin can retry it.")
        else:
            self.complete(job.id, result)
        finished = self.get(job.id)
        if finished is None:  # deleted while it ran: nobody to tell
            return None
        for listener in self._listeners:
            try:
                listener(finished)
            except Exception:
                logger.exception("job listener failed for job %s", job.id)
        return finished

    def run_until_idle(self, kinds: tuple[str, ...] | None = None) -> list[JobView]:
        finished = []
        while (job := self.run_one(kinds)) is not None:
            finished.append(job)
        return finished

    def wait_for_work(self, timeout: float) -> None:
        self._wakeup.wait(timeout)
        self._wakeup.clear()

    def wake(self) -> None:
        """Wake the workers waiting for work (new work, or time to stop)."""
        self._wakeup.set()


class Worker:
    """Background threads that run queued jobs until stopped."""

    def __init__(self, queue: DatabaseJobQueue, *, threads: int = 1, poll_s: float = 1.0, nice: int = 0) -> None:
        self.queue = queue
        self.poll_s = poll_s
        self.nice = nice
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"job-worker-{i}", daemon=True) for i in range(threads)
        ]

    def start(self) -> Worker:
        self.queue.recover()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.wake()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        if self.nice:
            # Linux priorities are per thread: jobs (transcription, the LLM) yield the CPU to
            # the webhook threads, so acks stay fast while an answer is being written.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        while not self._stop.is_set():
            try:
                ran = self.queue.run_one()
            except Exception:  # the database went away for a moment: keep the worker alive
                logger.exception("job worker loop error")
                ran = None
            if ran is None:
                self.queue.wait_for_work(self.poll_s)
