"""The job interface: ack first, work later, and survive a crash.

A webhook or CLI command `enqueue`s a job and returns at once; a worker runs the handler
registered for the job's kind and ends it done or failed with a user-safe reason. Services
see only this interface; the queue behind it lives in `bot.infra` (the composition root picks
it), so a job engine can take its place without touching them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.models import Job, JobStatus

__all__ = ["JobContext", "JobHandler", "JobListener", "JobQueue", "JobStatus", "JobView"]


@dataclass(frozen=True)
class JobView:
    """A detached, typed snapshot of a job."""

    id: int
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    progress: float
    progress_note: str | None
    attempts: int
    created_by_id: int | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            payload=dict(job.payload or {}),
            result=job.result,
            error=job.error,
            progress=job.progress,
            progress_note=job.progress_note,
            attempts=job.attempts,
            created_by_id=job.created_by_id,
        )


class JobContext(Protocol):
    """What a handler gets: its job, and a way to report progress (which is also the heartbeat)."""

    @property
    def job(self) -> JobView: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    def progress(self, fraction: float, note: str | None = None) -> None: ...


JobHandler = Callable[[JobContext], "dict[str, Any] | None"]
JobListener = Callable[[JobView], None]


class JobQueue(Protocol):
    def register(self, kind: str, handler: JobHandler) -> None:
        """Run `handler` for every job of `kind`."""
        ...

    def add_listener(self, listener: JobListener) -> None:
        """Call `listener` with every job this process finishes (done or failed)."""
        ...

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        created_by_id: int | None = None,
        dedupe_key: str | None = None,
    ) -> tuple[int, bool]:
        """Queue a job: (job id, created). A `dedupe_key` already used returns the existing
        job's id and False: the way platform retries are answered once."""
        ...

    def get(self, job_id: int) -> JobView | None: ...

    def run_one(self, kinds: tuple[str, ...] | None = None) -> JobView | None:
        """Take and run one queued job in this thread: the finished job, or None if idle."""
        ...

    def run_until_idle(self, kinds: tuple[str, ...] | None = None) -> list[JobView]: ...
