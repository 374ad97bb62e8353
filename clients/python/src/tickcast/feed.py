"""The `Feed`: one reconnecting connection to a tickcast server and the task that supervises
it. Each connection: wait for the `welcome`, hand every topic's position over in `resume`
pieces, (re)send every subscription's `subscribe`, then read, watching liveness (3 x the
heartbeat). Each message goes through the topic's position (duplicates dropped, losses turned
into a `Gap`) to the subscriptions that match it; each ``book.SYM`` message goes through the
topic's order book (`tickcast.book.Books`: verified, or dropped and the topic subscribed again
for a fresh book). When a connection ends it reconnects, with backoff, unless the end is final
(then every subscription ends with the error).

One connection attempt and the verdict on its end are `transport`'s; the consumer's side of a
subscription is `subscription`'s; requests awaiting answers are `pending`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl as ssl_module
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from . import history as http_history
from . import recovery
from .book import Books, Drop, OrderBook, Resync, is_book_topic
from .codes import advice
from .errors import ConnectionLost, PublishError, SubscribeError
from .history import History, HistoryFormat, Time
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
from .pending import Pending, Requests
from .recovery import Backoff, Position, Positions, matches, pieces
from .subscription import Subscription
from .transport import FAILURES, Endpoint, judge, read_welcome, tls_context, unpack

__all__ = ["Feed"]

log = logging.getLogger("tickcast")

RESUME_PIECE_TOPICS = 1000

BOOK_DEPTHS = (5, 10, 25, 50)
"""The depths a subscription may ask for (``depth``)."""

RESYNC_INTERVAL = 1.0
"""Seconds between two resyncs of one book topic (a book that keeps failing its checksum
does not make the feed flood the server with subscribes)."""


class _Dead(Exception):
    """Nothing arrived for 3 x heartbeat_ms."""


class Feed:
    """One reconnecting connection to a tickcast server. Create it with `connect`.

    Use it as ``async with connect(...) as feed`` (or ``feed = await connect(...)`` and
    ``await feed.close()``): entering waits for the first connection (retrying transient
    failures with backoff) and raises `HandshakeRejected` when the server refuses it for
    good (HTTP 400, 401, 403, 405, 426).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        buffer: int = 1024,
        open_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.url = url
        self._endpoint = Endpoint(url, token, tls_context(ca_file, ssl), open_timeout)
        self._buffer = buffer
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._positions = Positions()
        self._books = Books()
        self._resync_at: dict[str, float] = {}
        self._resync_tasks: set[asyncio.Task[None]] = set()
        self._subs: list[Subscription] = []
        self._requests = Requests()
        self._ws: ClientConnection | None = None
        self._conn_no = 0
        self._welcome: Welcome | None = None
        self._connected = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._closing = False
        self.connections = 0
        """How many times a connection was established (1 + reconnects)."""

    # -- public API -------------------------------------------------------------------------

    @property
    def welcome(self) -> Welcome | None:
        """The current connection's `welcome`, ``None`` while not connected."""
        return self._welcome if self._ws is not None else None

    @property
    def positions(self) -> dict[str, Position]:
        """A copy of the last ``(epoch, seq)`` received per topic: pass it as ``since`` to a
        later feed to resume where this one stopped."""
        return dict(self._positions.items())

    def book(self, topic: str) -> OrderBook | None:
        """A copy of the feed's latest verified book of `topic` (``book.SYM``), ``None``
        when it has none (or is waiting for a fresh one). It may be ahead of what a
        subscription has yielded so far: `Subscription.book` is the book as of its last
        item."""
        book = self._books.get(topic)
        if book is None or self._books.resyncing(topic):
            return None
        return book.copy()

    @property
    def books_verified(self) -> int:
        """How many `Book` and `BookUpdate` checksums matched, since the feed began."""
        return self._books.verified

    @property
    def books_resynced(self) -> int:
        """How many times a book was found wrong (a checksum mismatch or a broken chain)
        and its topic subscribed again."""
        return self._books.resyncs

    def subscribe(
        self,
        *patterns: str,
        snapshot: bool = True,
        max_rate: int | None = None,
        since: Mapping[str, Position] | None = None,
        rewind: int | None = None,
        depth: int | None = None,
        buffer: int | None = None,
    ) -> Subscription:
        """Subscribe to topic `patterns` (``ticks.AAPL``, ``ticks.*``, ``bars.>``) and return
        the `Subscription` to iterate.

        - `snapshot`: send the latest state of each matching topic first (default true).
        - `max_rate`: at most this many messages per second per topic (newest wins; the
          skipped seqs show as `Gap` items of cause ``seq_jump``).
        - `since`: initial positions ``{topic: (epoch, seq)}``: resume those topics after
          that seq (missed messages are replayed, or a `Gap` says they could not be).
        - `rewind`: each matching topic the feed is not already receiving and has no
          position for starts with up to this many of its latest messages (on a trades
          topic a `Snapshot` standing for the oldest trade, then `Tick` items; `Bar` items
          on a bar topic), then live ones: no hole, no duplicate. A topic with a position
          (``since``; every topic after a reconnect) resumes instead, never rewound again;
          only when that resume fails does the window follow its `Gap`.
        - `depth`: levels per side of the order books (``book.SYM``) this subscription
          matches: 5, 10, 25 or 50 (default: the server's, 10). When several
          subscriptions of the feed match a book, the server sends the largest depth.
        - `buffer`: items held for a slow reader (default: the feed's); when full, the
          feed stops reading the socket and the server conflates (`Lagged`, `Gap`).
        """
        if not patterns:
            raise ValueError("subscribe needs at least one pattern")
        if self._error is not None:
            raise self._error
        if self._closing:
            raise ConnectionLost("the feed is closed")
        options: dict[str, Any] = {}
        if not snapshot:
            options["snapshot"] = False
        if max_rate is not None:
            options["max_rate"] = max_rate
        if rewind:
            if isinstance(rewind, bool) or not isinstance(rewind, int) or not 0 < rewind < 1 << 32:
                raise ValueError(f"rewind: a count from 0 to 2**32 - 1, not {rewind!r}")
            options["rewind"] = rewind
        if depth is not None:
            if isinstance(depth, bool) or depth not in BOOK_DEPTHS:
                raise ValueError(f"depth: one of {BOOK_DEPTHS}, not {depth!r}")
            options["depth"] = depth
        sub = Subscription(self, tuple(patterns), options, buffer or self._buffer)
        explicit: dict[str, Position] = {}
        if since:
            explicit = {t: (int(p[0]), int(p[1])) for t, p in since.items()}
            self._positions.seed(explicit)
        self._subs.append(sub)
        ws = self._ws
        if ws is not None:
            task = asyncio.ensure_future(self._send_subscribe(ws, sub, explicit))
            task.add_done_callback(_log_failure)
        return sub

    async def publish(
        self,
        topic: str,
        price: float,
        size: int,
        bid: float | None = None,
        ask: float | None = None,
        *,
        timeout: float = 10.0,
    ) -> Ack:
        """Publish a trade on `topic` (needs a publisher token) and wait for the server's
        `ack`. Raises `PublishError` when the server refuses it, `ConnectionLost` when the
        connection ended first (the trade may or may not have been published), and
        `TimeoutError` after `timeout` seconds without a connection or an answer."""
        msg: dict[str, Any] = {
            "type": "publish",
            "topic": topic,
            "price": float(price),
            "size": int(size),
        }
        if bid is not None:
            msg["bid"] = float(bid)
        if ask is not None:
            msg["ask"] = float(ask)
        answer = await asyncio.wait_for(self._request(msg, "publish"), timeout)
        if isinstance(answer, Error):
            raise PublishError("publish", answer.code, answer.message, answer.id)
        return answer

    async def history(
        self,
        topic: str,
        *,
        limit: int | None = None,
        start: Time | None = None,
        end: Time | None = None,
        format: HistoryFormat = "msgpack",
        timeout: float = 10.0,
    ) -> History:
        """The latest `limit` messages (default 1000, at most what the server keeps) of
        `topic` (no wildcards) with ``start <= ts < end`` (aware datetimes or ns), oldest
        first, by ``GET /history/{topic}`` with the feed's token and TLS settings (the feed
        need not be connected). `format`: ``msgpack`` or ``json`` on the wire.

        Raises `HistoryError` (`.status`, `.code`: ``bad_topic``, ``bad_request``,
        ``unauthorized``, ``forbidden``, ``unknown_topic``), `ConnectionLost` when no answer
        came (refused, TLS failure), `TimeoutError` after `timeout` seconds."""
        return await http_history.fetch(
            self._endpoint, topic, limit=limit, start=start, end=end, format=format,
            timeout=timeout,
        )

    async def close(self) -> None:
        """Close the connection for good; subscriptions end (iteration stops)."""
        self._closing = True
        for resync in list(self._resync_tasks):
            resync.cancel()
        task, self._task = self._task, None
        if task is not None:
            # Cancel until it ends: Python before 3.12 can lose a cancellation that meets a
            # finishing asyncio.wait_for; the loop also stops by itself once _closing is set.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            if not task.cancelled():
                task.exception()  # retrieved: _run already ended everything with it
        self._end_all(None)

    async def __aenter__(self) -> Feed:
        self._start()
        assert self._first is not None
        try:
            await asyncio.shield(self._first)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, Feed]:
        return self.__aenter__().__await__()

    # -- the connection loop ----------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None:
            self._first = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(), name=f"tickcast {self.url}")

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # a bug: end everything with it rather than hang
            log.exception("tickcast feed failed")
            self._fail(e)

    async def _loop(self) -> None:
        delay: float | None = 0.0
        while not self._closing:
            if delay:
                await asyncio.sleep(delay)
            delay = None
            try:
                async with self._endpoint.open() as ws:
                    delay = await self._session(ws)  # returns only after a shutdown
            except _Dead:
                log.warning("tickcast: nothing arrived for 3 x heartbeat_ms: reconnecting")
            except FAILURES as e:
                verdict = judge(e, self.url)
                if verdict.final is not None:
                    self._fail(verdict.final)
                    return
                delay = verdict.delay
            finally:
                self._disconnected()
            if self._closing:
                return
            if delay is None:
                delay = self._backoff.next()
            log.info("tickcast: reconnecting in %.2f s", delay)

    async def _session(self, ws: ClientConnection) -> float | None:
        """One connection: welcome, hand positions over, subscribe, read until it ends.
        Returns the delay before reconnecting when the server said (shutdown)."""
        welcome = await read_welcome(ws, self._endpoint.open_timeout)
        self._conn_no += 1
        self.connections += 1
        self._welcome = welcome
        self._ws = ws
        silence = 3 * welcome.heartbeat_ms / 1000
        # Every position goes over before the first subscribe (PROTOCOL.md sections 8, 14).
        held = self._positions.since(p for s in self._subs for p in s.patterns)
        room = max(256, welcome.max_message_bytes - 64)
        for piece in pieces(held, room, RESUME_PIECE_TOPICS):
            await self._requests.send(ws, {"type": "resume", "since": piece}, Pending("resume"))
        for sub in list(self._subs):
            await self._send_subscribe(ws, sub, {})
        self._connected.set()
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        shutdown_delay: float | None = None
        while not self._closing:
            try:
                data = await asyncio.wait_for(ws.recv(), silence)
            except asyncio.TimeoutError:
                raise _Dead() from None
            except ConnectionClosed as e:
                if shutdown_delay is not None and advice(e.rcvd.code if e.rcvd else 1006) != "stop":
                    return shutdown_delay
                raise
            try:
                msg = unpack(data)
            except DecodeError as e:
                log.warning("tickcast: undecodable frame: %s", e)
                continue
            delay = await self._on_message(msg)
            if delay is not None:
                shutdown_delay = delay
        return None

    async def _send_subscribe(
        self, ws: ClientConnection, sub: Subscription, since: dict[str, Position]
    ) -> None:
        if sub._sent_on == self._conn_no or sub._ended:
            return
        sub._sent_on = self._conn_no
        msg: dict[str, Any] = {"type": "subscribe", "topics": list(sub.patterns)}
        msg.update(sub._options)
        if since:
            parts = pieces(since, max(256, (self._welcome_bytes()) - 64), RESUME_PIECE_TOPICS)
            for piece in parts:
                await self._requests.send(ws, {"type": "resume", "since": piece}, Pending("resume"))
        await self._requests.send(ws, msg, Pending("subscribe", sub=sub))

    def _welcome_bytes(self) -> int:
        return self._welcome.max_message_bytes if self._welcome else 65536

    async def _request(self, msg: dict[str, Any], op: str) -> Ack | Error:
        while True:
            if self._error is not None:
                raise self._error
            if self._closing:
                raise ConnectionLost("the feed is closed")
            self._start()
            ws = self._ws
            if ws is None:
                await self._connected.wait()
                continue
            future: asyncio.Future[Ack | Error] = asyncio.get_running_loop().create_future()
            await self._requests.send(ws, dict(msg), Pending(op, future=future))
            return await future

    async def _unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.remove(sub)
        self._forget_unwanted()
        still = {p for s in self._subs for p in s.patterns}
        gone = [p for p in sub.patterns if p not in still]
        ws = self._ws
        if gone and ws is not None:
            try:
                await self._requests.send(
                    ws, {"type": "unsubscribe", "topics": gone}, Pending("unsubscribe")
                )
            except ConnectionClosed:
                pass  # the next connection will not subscribe them

    def _forget_unwanted(self) -> None:
        self._positions.forget(self._wanted)
        self._books.forget(self._wanted)
        self._resync_at = {t: at for t, at in self._resync_at.items() if self._wanted(t)}

    # -- order books --------------------------------------------------------------------------

    async def _on_book(self, msg: Book | BookUpdate) -> None:
        """A book message: verified and passed on (after a `Gap` when the book was replaced
        after a loss), or dropped while its topic waits for a fresh book, or found wrong:
        then dropped, and the topic subscribed again (`_resync`)."""
        if not self._wanted(msg.topic):
            return  # unsubscribed, still in flight
        if isinstance(msg, Book):
            verdict = self._books.on_book(msg)
        else:
            verdict = self._books.on_update(msg)
        if isinstance(verdict, Drop):
            return
        if isinstance(verdict, Resync):
            log.warning(
                "tickcast: %s: %s at seq %d: subscribing it again for a fresh book",
                msg.topic,
                verdict.cause.replace("_", " "),
                msg.seq,
            )
            self._resync(msg.topic)
            return
        self._backoff.reset()
        if verdict.gap is not None:
            await self._dispatch(verdict.gap)
        await self._dispatch(msg)

    def _resync(self, topic: str) -> None:
        """Ask for a fresh book of `topic` (PROTOCOL.md section 8: unsubscribe and subscribe
        the topic again), at most once per `RESYNC_INTERVAL`. Without a connection nothing
        is sent: the next connection brings a fresh book anyway."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._resync_at.get(topic, -RESYNC_INTERVAL) + RESYNC_INTERVAL)
        self._resync_at[topic] = at
        task = asyncio.create_task(self._send_resync(topic, self._conn_no, at - now))
        self._resync_tasks.add(task)  # held: the loop keeps only a weak reference
        task.add_done_callback(self._resync_tasks.discard)
        task.add_done_callback(_log_failure)

    async def _send_resync(self, topic: str, conn_no: int, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        ws = self._ws
        if ws is None or conn_no != self._conn_no or not self._books.resyncing(topic):
            return  # reconnected (a fresh book comes with it) or already resynchronized
        # A subscribe of a topic the connection already receives sends nothing, so every
        # pattern that matches the topic goes, and comes back: a wildcard's other book
        # topics get fresh books (replacing theirs, no gap), its other topics resume from
        # their positions (a replay: no hole; duplicates in flight are dropped).
        subs = [s for s in self._subs if s.wants(topic)]
        patterns = sorted({p for s in subs for p in s.patterns if matches(p, topic)})
        if not patterns:
            return
        await self._requests.send(
            ws, {"type": "unsubscribe", "topics": patterns}, Pending("unsubscribe")
        )
        held = self._positions.since(patterns)
        for piece in pieces(held, max(256, self._welcome_bytes() - 64), RESUME_PIECE_TOPICS):
            await self._requests.send(ws, {"type": "resume", "since": piece}, Pending("resume"))
        for sub in subs:
            msg: dict[str, Any] = {
                "type": "subscribe",
                "topics": [p for p in sub.patterns if p in patterns],
            }
            msg.update((k, v) for k, v in sub._options.items() if k != "rewind")
            await self._requests.send(ws, msg, Pending("subscribe", sub=sub))

    # -- messages ---------------------------------------------------------------------------

    async def _on_message(self, raw: dict[str, Any]) -> float | None:
        kind = raw.get("type")
        welcome_epoch = self._welcome.epoch if self._welcome else 0
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
            if not self._wanted(msg.topic):
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
                await self._dispatch(gap)
            await self._dispatch(msg)
        elif isinstance(msg, Book | BookUpdate):
            await self._on_book(msg)
        elif isinstance(msg, Status):
            await self._dispatch(msg)
        elif isinstance(msg, Lagged):
            self._positions.lagged(t for t in msg.topics if not is_book_topic(t))
            self._books.lagged(msg.topics)
            for sub in list(self._subs):
                if any(sub.wants(t) for t in msg.topics):
                    await sub._put(msg)
        elif isinstance(msg, Ack | Error):
            self._on_answer(msg)
        elif isinstance(msg, Shutdown):
            log.info("tickcast: server shutting down: %s", msg.reason)
            return msg.reconnect_after_ms / 1000 + random.uniform(0.0, 1.0)
        return None

    def _wanted(self, topic: str) -> bool:
        return any(sub.wants(topic) for sub in self._subs)

    async def _dispatch(
        self, item: Tick | Bar | Snapshot | Book | BookUpdate | Status | Gap
    ) -> None:
        for sub in list(self._subs):
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
                if sub in self._subs:
                    self._subs.remove(sub)
                    self._forget_unwanted()
                sub._finish(SubscribeError("subscribe", answer.code, answer.message, rid))
        elif isinstance(answer, Error):
            log.warning(
                "tickcast: %s refused: %s: %s", pending.op, answer.code, answer.message
            )

    # -- endings ----------------------------------------------------------------------------

    def _disconnected(self) -> None:
        self._ws = None
        self._connected.clear()
        self._requests.fail_all(
            lambda p: ConnectionLost(f"the connection ended before the {p.op} was answered")
        )

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self._first is not None and not self._first.done():
            self._first.set_exception(error)
        self._requests.fail_all(lambda p: error)
        self._connected.set()  # wake _request, which raises self._error
        self._end_all(error)

    def _end_all(self, error: BaseException | None) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            sub._finish(error)
        if self._first is not None and not self._first.done():
            self._first.set_exception(error or ConnectionLost("the feed was closed"))
        self._connected.set()


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("tickcast: sending a subscribe failed: %r", task.exception())
