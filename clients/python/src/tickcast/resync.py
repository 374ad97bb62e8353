"""Order-book resyncs (PROTOCOL.md section 8, "Order books"): what the feed does with the
verdict of `tickcast.book.Books` on each ``book`` and ``book_update`` message. A verified
message is passed on (after a `Gap` when the book was replaced after a loss); one that comes
while its topic waits for a fresh book is dropped; one that finds the book wrong (a checksum
mismatch or a broken chain) is dropped and the topic asked for again, at most once per
`RESYNC_INTERVAL`, and only while the connection that found it wrong is still open. What goes
out for it (unsubscribe and subscribe the topic's patterns again) is `tickcast.routing`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection

from .book import Books, Drop, Resync
from .messages import Book, BookUpdate, Gap
from .pending import log_failure

if TYPE_CHECKING:
    from .routing import Link

__all__ = ["RESYNC_INTERVAL", "Resyncs"]

log = logging.getLogger("tickcast")

RESYNC_INTERVAL = 1.0
"""Seconds between two resyncs of one book topic (a book that keeps failing its checksum
does not make the feed flood the server with subscribes)."""


class Resyncs:
    """The feed's order-book resyncs: when each book topic was last asked for again, and the
    requests still waiting to go out. `send` (``send(ws, topic)``) asks the server for a
    fresh book of the topic on the connection `ws`."""

    def __init__(
        self,
        books: Books,
        link: Link,
        send: Callable[[ClientConnection, str], Awaitable[None]],
    ) -> None:
        self._books = books
        self._link = link
        self._send = send
        self._at: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on_book(self, msg: Book | BookUpdate) -> list[Gap | Book | BookUpdate]:
        """The items to pass on for the book message `msg`: `msg` when verified (after a `Gap`
        when the book was replaced after a loss); none when it is dropped while its topic
        waits for a fresh book, or when it found the book wrong: then the topic is asked for
        again (`resync`)."""
        if isinstance(msg, Book):
            verdict = self._books.on_book(msg)
        else:
            verdict = self._books.on_update(msg)
        if isinstance(verdict, Drop):
            return []
        if isinstance(verdict, Resync):
            log.warning(
                "tickcast: %s: %s at seq %d: subscribing it again for a fresh book",
                msg.topic,
                verdict.cause.replace("_", " "),
                msg.seq,
            )
            self.resync(msg.topic)
            return []
        return [msg] if verdict.gap is None else [verdict.gap, msg]

    def resync(self, topic: str) -> None:
        """Ask for a fresh book of `topic` (PROTOCOL.md section 8: unsubscribe and subscribe
        the topic again), at most once per `RESYNC_INTERVAL`. Without a connection nothing
        is sent: the next connection brings a fresh book anyway."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._at.get(topic, -RESYNC_INTERVAL) + RESYNC_INTERVAL)
        self._at[topic] = at
        task = asyncio.create_task(self._send_later(topic, self._link.number, at - now))
        self._tasks.add(task)  # held: the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_failure)

    async def _send_later(self, topic: str, number: int, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        ws = self._link.ws
        if ws is None or number != self._link.number or not self._books.resyncing(topic):
            return  # reconnected (a fresh book comes with it) or already resynchronized
        await self._send(ws, topic)

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop when each topic for which `keep` is false was last asked for."""
        self._at = {t: at for t, at in self._at.items() if keep(t)}

    def cancel(self) -> None:
        """Cancel every resync still waiting to go out (the feed is closing)."""
        for task in list(self._tasks):
            task.cancel()
