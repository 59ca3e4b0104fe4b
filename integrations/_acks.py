"""How the webhook endpoints run their synchronous part (verify, record, queue) before the ack."""

from __future__ import annotations

import anyio

__all__ = ["ACK_THREADS", "ack_limiter"]

# An ack is a millisecond of Python and one short database write. A few threads keep acks
# flowing while one waits on the database; dozens would only take turns on the GIL (a burst of
# 200 Slack events: p99 ~90 ms with anyio's default 40 threads, ~35 ms with 4).
ACK_THREADS = 4


def ack_limiter() -> anyio.CapacityLimiter:
    """The thread budget for one endpoint's acks: pass it to `anyio.to_thread.run_sync`."""
    return anyio.CapacityLimiter(ACK_THREADS)
