"""One subscription: the async iterator a `Feed` hands out for some topic patterns, and the
bounded buffer between the feed's reader and the code iterating it. The feed puts items in
(`_put`), ends it (`_finish`) and sends its subscribe; this module owns only the consumer's
side: iteration, its end (normal or with the error that ended it), unsubscribing, and the
order books as the items yielded so far leave them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from .book import OrderBook, is_book_topic
from .messages import Ack, Book, BookUpdate, Gap, Item
from .recovery import matches

if TYPE_CHECKING:
    from .feed import Feed

__all__ = ["Subscription"]

_END = object()


class Subscription:
    """The messages of some topic patterns, in order per topic, as an async iterator of
    `Item`: `Tick`, `Snapshot`, `Bar`, `Book`, `BookUpdate`, `Status`, `Lagged`, and a `Gap`
    before any message that follows a loss. Get one from `Feed.subscribe`.

    For each order book topic (``book.SYM``) it matches, it keeps the book as the items
    yielded so far leave it (`book`, `books`): every `Book` and `BookUpdate` it yields was
    verified by the feed (the chain of seqs and the checksum), so that book is always the
    server's book at the seq of the last item, to the subscription's depth.

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
        self._books: dict[str, OrderBook] = {}

    def book(self, topic: str) -> OrderBook | None:
        """The order book of `topic` (``book.SYM``) as of the last item yielded: ``None``
        before its first `Book`, and between a `Gap` and the fresh `Book` that follows it.
        It changes as you iterate: `OrderBook.copy` keeps one."""
        return self._books.get(topic)

    @property
    def books(self) -> Mapping[str, OrderBook]:
        """Every order book this subscription holds, by topic (a read-only view of what
        `book` returns)."""
        return MappingProxyType(self._books)

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
                self._track(item)  # type: ignore[arg-type]
                return item  # type: ignore[return-value]

    def _track(self, item: Item) -> None:
        """Keep the books up with `item`, which the feed has verified."""
        if isinstance(item, Book):
            self._books[item.topic] = OrderBook.from_message(item)
        elif isinstance(item, BookUpdate):
            book = self._books.get(item.topic)
            if book is not None:
                book.apply(item)
        elif isinstance(item, Gap) and is_book_topic(item.topic):
            self._books.pop(item.topic, None)  # a fresh Book follows

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
