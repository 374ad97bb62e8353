"""Requests in flight on one connection: their ids, and matching each of the server's `ack`
and `error` answers to the request it answers (by id, or, for an answer without one, the
oldest request still waiting); `log_failure` for a task that sends requests in the
background. What an answer means for a subscription is `tickcast.routing`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack
from websockets.asyncio.client import ClientConnection

from .messages import Ack, Error, RequestId

if TYPE_CHECKING:
    from .subscription import Subscription

__all__ = ["Pending", "Requests", "log_failure"]

log = logging.getLogger("tickcast")


class Pending:
    """One request waiting for its answer: a caller's `future` (publish), or the `sub`
    whose subscribe it is, or neither (resume, unsubscribe: errors are only logged)."""

    def __init__(
        self,
        op: str,
        future: asyncio.Future[Ack | Error] | None = None,
        sub: Subscription | None = None,
    ) -> None:
        self.op = op
        self.future = future
        self.sub = sub


class Requests:
    """The requests sent and not yet answered; ids count up over the feed's lifetime."""

    def __init__(self) -> None:
        self._pending: dict[RequestId, Pending] = {}
        self._ids = itertools.count(1)

    async def send(self, ws: ClientConnection, msg: dict[str, Any], pending: Pending) -> None:
        """Send `msg` on `ws` with a fresh ``id``, and wait for its answer as `pending`."""
        rid = next(self._ids)
        msg["id"] = rid
        self._pending[rid] = pending
        await ws.send(msgpack.packb(msg))

    def take(self, answer: Ack | Error) -> tuple[RequestId, Pending] | None:
        """The request `answer` answers, no longer pending, or ``None`` when none does."""
        rid = answer.id
        if rid is None or rid not in self._pending:
            # Answers come in request order: one without an id (rate_limited, bad_frame)
            # answers the oldest request still waiting.
            if isinstance(answer, Ack) or not self._pending:
                return None
            rid = next(iter(self._pending))
        return rid, self._pending.pop(rid)

    def fail_all(self, error: Callable[[Pending], BaseException]) -> None:
        """Forget every pending request, failing each waiting caller with `error(request)`."""
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if p.future is not None and not p.future.done():
                p.future.set_exception(error(p))


def log_failure(task: asyncio.Future[None]) -> None:
    """The done-callback of a task that sends requests in the background (a subscribe, a
    book's resync): its failure (the connection ended under it) is only logged."""
    if not task.cancelled() and task.exception() is not None:
        log.info("tickcast: sending a subscribe failed: %r", task.exception())
