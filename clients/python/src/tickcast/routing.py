"""Routing: a `Feed`'s subscriptions and the messages between them and the server. Each
message read goes to the subscriptions that match its topic: a ``tick``, ``bar`` or
``snapshot`` through the topic's position first (duplicates dropped, a loss turned into a
`Gap`), a ``book`` or ``book_update`` through the topic's order book (`tickcast.resync`), a
``lagged`` to every subscription that matches one of its topics; an ``ack`` or ``error`` to
the request it answers (a refused subscribe ends its subscription). What goes out from here:
every position and subscribe on a new connection, a new subscription's, the unsubscribe of
patterns nobody wants any more, and the unsubscribe and subscribe again that ask for a fresh
book. The connection itself is the `Feed`'s, shared through `Link`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from . import recovery
from .book import Books, is_book_topic
from .errors import SubscribeError
from .messages import (
    Ack,
    Bar,
    Book,
    BookUpdate,
    DecodeError,
    Error,
    Gap,
    Lagged,
    Shutdown,
    Snapshot,
    Status,
    Tick,
    Welcome,
    decode,
)
from .pending import Pending, Requests, log_failure
from .recovery import Backoff, Position, Positions, matches, pieces
from .resync import Resyncs
from .subscription import Subscription

__all__ = ["RESUME_PIECE_TOPICS", "Link", "Router"]

log = logging.getLogger("tickcast")

RESUME_PIECE_TOPICS = 1000
"""At most this many topics in one ``resume`` message."""


class Link:
    """The feed's connection as routing sees it: the socket (``None`` between connections),
    its number (counting connections from 1) and the latest `welcome` (kept between
    connections). The `Feed` sets them."""

    def __init__(self) -> None:
        self.ws: ClientConnection | None = None
        self.number = 0
        self.welcome: Welcome | None = None

    def room(self) -> int:
        """The bytes one ``resume`` message may take: the welcome's ``max_message_bytes``
        (65536 before any welcome) less 64, at least 256."""
        return max(256, (self.welcome.max_message_bytes if self.welcome else 65536) - 64)


class Router:
    """A feed's subscriptions (`subs`), where each message read goes, and the subscribe,
    resume and unsubscribe messages that keep the server's patterns in step with them. The
    positions, books, backoff and requests are the feed's, shared."""

    def __init__(
        self,
        link: Link,
        positions: Positions,
        books: Books,
        backoff: Backoff,
        requests: Requests,
    ) -> None:
        self.subs: list[Subscription] = []
        self._link = link
        self._positions = positions
        self._books = books
        self._backoff = backoff
        self._requests = requests
        self.resyncs = Resyncs(books, link, self.resync)
        """The order-book resyncs: each wrong book is asked for again through `resync`."""

    def wanted(self, topic: str) -> bool:
        """Whether some subscription matches `topic`."""
        return any(sub.wants(topic) for sub in self.subs)

    # -- going out ----------------------------------------------------------------------------

    def add(self, sub: Subscription, since: Mapping[str, Position]) -> None:
        """Adds `sub` with the positions `since` it was given; while connected, sends them
        and its subscribe (in the background)."""
        if since:
            self._positions.seed(since)
        self.subs.append(sub)
        ws = self._link.ws
        if ws is not None:
            task = asyncio.ensure_future(self.subscribe(ws, sub, since))
            task.add_done_callback(log_failure)

    async def connected(self, ws: ClientConnection) -> None:
        """A connection is open: every position of a followed topic goes over before the
        first subscribe (PROTOCOL.md sections 8, 14), then every subscription's subscribe."""
        await self._resume(ws, self._positions.since(p for s in self.subs for p in s.patterns))
        for sub in list(self.subs):
            await self.subscribe(ws, sub, {})

    async def subscribe(
        self, ws: ClientConnection, sub: Subscription, since: Mapping[str, Position]
    ) -> None:
        """Sends `sub`'s subscribe on `ws`, after the positions `since`; once a connection."""
        if sub._sent_on == self._link.number or sub._ended:
            return
        sub._sent_on = self._link.number
        msg: dict[str, Any] = {"type": "subscribe", "topics": list(sub.patterns)}
        msg.update(sub._options)
        await self._resume(ws, since)
        await self._requests.send(ws, msg, Pending("subscribe", sub=sub))

    async def unsubscribe(self, sub: Subscription) -> None:
        """Removes `sub` (closed by its reader): unsubscribes the patterns nobody else wants
        and forgets the topics nobody follows."""
        if sub not in self.subs:
            return
        self.subs.remove(sub)
        self.forget_unwanted()
        still = {p for s in self.subs for p in s.patterns}
        gone = [p for p in sub.patterns if p not in still]
        ws = self._link.ws
        if gone and ws is not None:
            try:
                await self._requests.send(
                    ws, {"type": "unsubscribe", "topics": gone}, Pending("unsubscribe")
                )
            except ConnectionClosed:
                pass  # the next connection will not subscribe them

    async def resync(self, ws: ClientConnection, topic: str) -> None:
        """Asks for a fresh book of `topic` on `ws` (PROTOCOL.md section 8): unsubscribes the
        patterns that match it, then subscribes them again (no rewind)."""
        # A subscribe of a topic the connection already receives sends nothing, so every
        # pattern that matches the topic goes, and comes back: a wildcard's other book
        # topics get fresh books (replacing theirs, no gap), its other topics resume from
        # their positions (a replay: no hole; duplicates in flight are dropped).
        subs = [s for s in self.subs if s.wants(topic)]
        patterns = sorted({p for s in subs for p in s.patterns if matches(p, topic)})
        if not patterns:
            return
        await self._requests.send(
            ws, {"type": "unsubscribe", "topics": patterns}, Pending("unsubscribe")
        )
        await self._resume(ws, self._positions.since(patterns))
        for sub in subs:
            msg: dict[str, Any] = {
                "type": "subscribe",
                "topics": [p for p in sub.patterns if p in patterns],
            }
            msg.update((k, v) for k, v in sub._options.items() if k != "rewind")
            await self._requests.send(ws, msg, Pending("subscribe", sub=sub))

    async def _resume(self, ws: ClientConnection, positions: Mapping[str, Position]) -> None:
        for piece in pieces(positions, self._link.room(), RESUME_PIECE_TOPICS):
            await self._requests.send(ws, {"type": "resume", "since": piece}, Pending("resume"))

    # -- coming in ----------------------------------------------------------------------------

    async def on_message(self, raw: dict[str, Any]) -> float | None:
        """Routes the message `raw` (decoded MessagePack). Returns the delay before
        reconnecting when it was a ``shutdown``."""
        kind = raw.get("type")
        welcome = self._link.welcome
        welcome_epoch = welcome.epoch if welcome else 0
        if kind == "tick":
            topic = raw.get("topic", "")
            raw["epoch"] = self._positions.epoch_of(topic, welcome_epoch)
        elif kind == "bar" and not raw.get("epoch"):
            raw["epoch"] = self._positions.epoch_of(raw.get("topic", ""), welcome_epoch)
        elif kind == "book_update":
            raw["epoch"] = self._books.epoch_of(raw.get("topic", ""))
        try:
            msg = decode(raw)
        except DecodeError as e:
            log.warning("tickcast: %s", e)
            return None
        if isinstance(msg, Tick | Bar | Snapshot):
            if not self.wanted(msg.topic):
                return None  # unsubscribed, still in flight: it leaves no position behind
            if isinstance(msg, Tick) or (isinstance(msg, Bar) and msg.recovered is not False):
                verdict = self._positions.on_seq(msg.topic, msg.epoch, msg.seq)
            else:
                verdict = self._positions.on_snapshot(
                    msg.topic, msg.epoch, msg.seq, msg.recovered
                )
            if isinstance(verdict, recovery.Duplicate):
                return None
            self._backoff.reset()
            if isinstance(verdict, recovery.Gap):
                gap = Gap(
                    topic=msg.topic,
                    epoch=msg.epoch,
                    expected=verdict.expected,
                    received=verdict.received,
                    cause=verdict.cause,
                    lagged=verdict.lagged,
                    previous_epoch=verdict.previous_epoch,
                )
                await self.dispatch(gap)
            await self.dispatch(msg)
        elif isinstance(msg, Book | BookUpdate):
            if not self.wanted(msg.topic):
                return None  # unsubscribed, still in flight
            items = self.resyncs.on_book(msg)
            if items:
                self._backoff.reset()
            for item in items:
                await self.dispatch(item)
        elif isinstance(msg, Status):
            await self.dispatch(msg)
        elif isinstance(msg, Lagged):
            self._positions.lagged(t for t in msg.topics if not is_book_topic(t))
            self._books.lagged(msg.topics)
            for sub in list(self.subs):
                if any(sub.wants(t) for t in msg.topics):
                    await sub._put(msg)
        elif isinstance(msg, Ack | Error):
            self._on_answer(msg)
        elif isinstance(msg, Shutdown):
            log.info("tickcast: server shutting down: %s", msg.reason)
            return msg.reconnect_after_ms / 1000 + random.uniform(0.0, 1.0)
        return None

    async def dispatch(
        self, item: Tick | Bar | Snapshot | Book | BookUpdate | Status | Gap
    ) -> None:
        """Gives `item` to every subscription that matches its topic."""
        for sub in list(self.subs):
            if sub.wants(item.topic):
                await sub._put(item)

    def _on_answer(self, answer: Ack | Error) -> None:
        taken = self._requests.take(answer)
        if taken is None:
            return
        rid, pending = taken
        if isinstance(answer, Ack):
            self._backoff.reset()
        if pending.future is not None and not pending.future.done():
            pending.future.set_result(answer)
        elif pending.sub is not None:
            if isinstance(answer, Ack):
                pending.sub.ack = answer
            else:
                sub = pending.sub
                if sub in self.subs:
                    self.subs.remove(sub)
                    self.forget_unwanted()
                sub._finish(SubscribeError("subscribe", answer.code, answer.message, rid))
        elif isinstance(answer, Error):
            log.warning(
                "tickcast: %s refused: %s: %s", pending.op, answer.code, answer.message
            )

    # -- endings ------------------------------------------------------------------------------

    def forget_unwanted(self) -> None:
        """Forgets the positions, books and resync times of the topics nobody follows (a
        later subscription starts them afresh)."""
        self._positions.forget(self.wanted)
        self._books.forget(self.wanted)
        self.resyncs.forget(self.wanted)

    def end_all(self, error: BaseException | None) -> None:
        """Ends every subscription: with `error`, or (``None``) normally."""
        subs, self.subs = self.subs, []
        for sub in subs:
            sub._finish(error)
