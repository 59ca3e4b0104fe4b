"""How the webhook endpoints run their synchronous part (verify, record, queue) before the ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

__all__ = ["ACK_THREADS", "AckThreads"]

# An ack is a millisecond of Python and one short database write. A few threads keep acks
# flowing while one waits on the database; dozens would only take turns on the GIL (a burst of
# 200 Slack events: p99 ~90 ms with anyio's default 40 threads, ~35 ms with 4).
ACK_THREADS = 4

_Result = TypeVar("_Result")
_Args = TypeVarTuple("_Args")


class AckThreads:
    """One endpoint's thread budget for its acks. Each adapter's `asgi()` makes one and its
    endpoint holds it, so the event loop keeps accepting requests while an ack waits on the
    database, and a burst of requests never takes more than `threads` threads."""

    def __init__(self, threads: int = ACK_THREADS) -> None:
        self._limiter = anyio.CapacityLimiter(threads)

    async def run(self, work: Callable[[Unpack[_Args]], _Result], *args: *_Args) -> _Result:
        """`work(*args)` in one of this endpoint's threads."""
        return await anyio.to_thread.run_sync(work, *args, limiter=self._limiter)
