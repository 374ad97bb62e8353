"""The `Feed`: one reconnecting connection to a tickcast server and the task that supervises
it. Each connection: wait for the `welcome`, hand every topic's position over in `resume`
pieces, (re)send every subscription's `subscribe`, then read, watching liveness (3 x the
heartbeat), and hand each message to the router. When a connection ends it reconnects, with
backoff, unless the end is final (then every subscription ends with the error).

One connection attempt and the verdict on its end are `transport`'s; where each message goes
and the subscribe messages are `routing`'s (a wrong order book asked for again:
`resync`'s); the consumer's side of a subscription is `subscription`'s; requests awaiting
answers are `pending`'s.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from . import history as http_history
from .book import Books, OrderBook
from .codes import advice
from .errors import ConnectionLost, PublishError
from .history import History, HistoryFormat, Time
from .messages import Ack, DecodeError, Error, Welcome
from .pending import Pending, Requests
from .recovery import Backoff, Position, Positions
from .routing import Link, Router
from .subscription import Subscription
from .transport import FAILURES, Endpoint, judge, read_welcome, tls_context, unpack

__all__ = ["Feed"]

log = logging.getLogger("tickcast")

BOOK_DEPTHS = (5, 10, 25, 50)
"""The depths a subscription may ask for (``depth``)."""


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
        self._requests = Requests()
        self._link = Link()
        self._router = Router(
            self._link, self._positions, self._books, self._backoff, self._requests
        )
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
        return self._link.welcome if self._link.ws is not None else None

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
        self._router.add(sub, explicit)
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
        self._router.resyncs.cancel()
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
        self._link.number += 1
        self.connections += 1
        self._link.welcome = welcome
        self._link.ws = ws
        silence = 3 * welcome.heartbeat_ms / 1000
        await self._router.connected(ws)
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
            delay = await self._router.on_message(msg)
            if delay is not None:
                shutdown_delay = delay
        return None

    async def _request(self, msg: dict[str, Any], op: str) -> Ack | Error:
        while True:
            if self._error is not None:
                raise self._error
            if self._closing:
                raise ConnectionLost("the feed is closed")
            self._start()
            ws = self._link.ws
            if ws is None:
                await self._connected.wait()
                continue
            future: asyncio.Future[Ack | Error] = asyncio.get_running_loop().create_future()
            await self._requests.send(ws, dict(msg), Pending(op, future=future))
            return await future

    async def _unsubscribe(self, sub: Subscription) -> None:
        """`Subscription.aclose`: the router unsubscribes what nobody else wants."""
        await self._router.unsubscribe(sub)

    # -- endings ----------------------------------------------------------------------------

    def _disconnected(self) -> None:
        self._link.ws = None
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
        self._router.end_all(error)
        if self._first is not None and not self._first.done():
            self._first.set_exception(error or ConnectionLost("the feed was closed"))
        self._connected.set()

