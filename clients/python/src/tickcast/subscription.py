"""One subscription: the async iterator a `Feed` hands out for some topic patterns, and the
bounded buffer between the feed's reader and the code iterating it. The feed puts items in
(`_put`), ends it (`_finish`) and sends its subscribe; this module owns only the consumer's
side: iteration, its end (normal or with the error that ended it), and unsubscribing.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .messages import Ack, Item
from .recovery import matches

if TYPE_CHECKING:
    from .feed import Feed

__all__ = ["Subscription"]

_END = object()


class Subscription:
    """The messages of some topic patterns, in order per topic, as an async iterator of
    `Item`: `Tick`, `Snapshot`, `Bar`, `Status`, `Lagged`, and a `Gap` before any message
    that follows a loss. Get one from `Feed.subscribe`.

    Iteration ends normally when the feed or the subscription is closed, and raises the
    error that ended the feed (`HandshakeRejected`, `ClosedByServer`) or the subscription
    (`SubscribeError`). ``async with`` it (or call `aclose`) to unsubscribe.
    """

    def __init__(
        self,
        feed: Feed,
        patterns: tuple[str, ...],
        options: dict[str, Any],
        buffer: int,
    ) -> None:
        self.patterns = patterns
        """The patterns this subscription asked for."""
        self._feed = feed
        self._options = options
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer)
        self._end: BaseException | None = None
        self._ended = False
        self._sent_on = -1  # the connection number its subscribe went out on
        self.ack: Ack | None = None
        """The server's latest `ack` of this subscription."""

    def wants(self, topic: str) -> bool:
        """Whether one of this subscription's patterns matches `topic`."""
        return any(matches(p, topic) for p in self.patterns)

    async def _put(self, item: Item) -> None:
        if not self._ended:
            await self._queue.put(item)

    def _finish(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._end = error
        try:
            self._queue.put_nowait(_END)
        except asyncio.QueueFull:
            pass  # nobody waits on a full queue; __anext__ sees the end once it is drained

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        while True:
            if self._ended and self._queue.empty():
                if self._end is not None:
                    raise self._end
                raise StopAsyncIteration
            item = await self._queue.get()
            if item is not _END:
                return item  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Unsubscribe (patterns no other subscription of the feed holds) and end iteration."""
        self._finish(None)
        await self._feed._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
