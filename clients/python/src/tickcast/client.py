"""The connection: `connect` gives a `Feed`, which keeps one WebSocket to the server open
(reconnecting with backoff, resuming every topic from its own position), and hands out
`Subscription`s that yield each topic's messages exactly once, or a `Gap` saying what was lost.

    async with tickcast.connect("ws://127.0.0.1:8080/ws") as feed:
        async for msg in feed.subscribe("ticks.AAPL", "bars.1m.*"):
            print(msg.type, msg.topic, msg.seq)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl as ssl_module
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from . import recovery
from .codes import FINAL_HTTP_STATUSES, advice, explain_close, explain_http
from .errors import (
    ClosedByServer,
    ConnectionLost,
    HandshakeRejected,
    PublishError,
    SubscribeError,
    TickcastError,
)
from .messages import (
    Ack,
    Bar,
    DecodeError,
    Error,
    Gap,
    Item,
    Lagged,
    RequestId,
    Shutdown,
    Snapshot,
    Status,
    Tick,
    Welcome,
    decode,
)
from .recovery import Backoff, Position, Positions, matches, pieces

__all__ = ["Feed", "Subscription", "connect"]

log = logging.getLogger("tickcast")

SUBPROTOCOL = "tickcast.v1.msgpack"
RESUME_PIECE_TOPICS = 1000


class _Dead(Exception):
    """Nothing arrived for 3 x heartbeat_ms."""


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


class _Pending:
    def __init__(
        self,
        op: str,
        future: asyncio.Future[Ack | Error] | None = None,
        sub: Subscription | None = None,
    ) -> None:
        self.op = op
        self.future = future
        self.sub = sub


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
        self._token = token
        self._ssl = ssl
        if ca_file is not None:
            self._ssl = ssl_module.create_default_context(cafile=ca_file)
        self._buffer = buffer
        self._open_timeout = open_timeout
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._positions = Positions()
        self._subs: list[Subscription] = []
        self._pending: dict[RequestId, _Pending] = {}
        self._ids = itertools.count(1)
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
        - `rewind`, `depth`: passed through to the server as is; **not yet served** by
          tickcast-server (future features), which ignores them.
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
        if rewind is not None:
            options["rewind"] = rewind
        if depth is not None:
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

    async def close(self) -> None:
        """Close the connection for good; subscriptions end (iteration stops)."""
        self._closing = True
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
                async with ws_connect(self.url, **self._connect_options()) as ws:
                    delay = await self._session(ws)  # returns only after a shutdown
            except InvalidStatus as e:
                status = e.response.status_code
                body = e.response.body.decode(errors="replace") if e.response.body else ""
                if status in FINAL_HTTP_STATUSES:
                    self._fail(HandshakeRejected(status, body))
                    return
                log.warning("tickcast: %s", explain_http(status, body))
            except ConnectionClosed as e:
                code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (1006, "")
                what = advice(code)
                if what == "stop":
                    self._fail(ClosedByServer(code, reason))
                    return
                if what == "now":
                    delay = 0.0
                log.info("tickcast: %s", explain_close(code, reason))
            except _Dead:
                log.warning("tickcast: nothing arrived for 3 x heartbeat_ms: reconnecting")
            except InvalidURI as e:
                self._fail(TickcastError(f"invalid URL {self.url!r}: {e}"))
                return
            except (OSError, asyncio.TimeoutError, InvalidHandshake, EOFError) as e:
                log.info("tickcast: connecting to %s failed: %r", self.url, e)
            finally:
                self._disconnected()
            if self._closing:
                return
            if delay is None:
                delay = self._backoff.next()
            log.info("tickcast: reconnecting in %.2f s", delay)

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "subprotocols": [SUBPROTOCOL],
            "open_timeout": self._open_timeout,
            "close_timeout": 1.0,
            "ping_interval": None,  # the server pings; liveness is its heartbeats
        }
        if self._token:
            options["additional_headers"] = {"Authorization": f"Bearer {self._token}"}
        if self._ssl is not None and self.url.startswith("wss:"):
            options["ssl"] = self._ssl
        return options

    async def _session(self, ws: ClientConnection) -> float | None:
        """One connection: welcome, hand positions over, subscribe, read until it ends.
        Returns the delay before reconnecting when the server said (shutdown)."""
        raw = await asyncio.wait_for(ws.recv(), self._open_timeout)
        welcome = decode(_unpack(raw))
        if not isinstance(welcome, Welcome):
            raise EOFError(f"the first message was not a welcome: {welcome!r:.200}")
        self._conn_no += 1
        self.connections += 1
        self._welcome = welcome
        self._ws = ws
        silence = 3 * welcome.heartbeat_ms / 1000
        # Every position goes over before the first subscribe (PROTOCOL.md sections 8, 14).
        held = self._positions.since(p for s in self._subs for p in s.patterns)
        room = max(256, welcome.max_message_bytes - 64)
        for piece in pieces(held, room, RESUME_PIECE_TOPICS):
            await self._send(ws, {"type": "resume", "since": piece}, _Pending("resume"))
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
                msg = _unpack(data)
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
                await self._send(ws, {"type": "resume", "since": piece}, _Pending("resume"))
        await self._send(ws, msg, _Pending("subscribe", sub=sub))

    def _welcome_bytes(self) -> int:
        return self._welcome.max_message_bytes if self._welcome else 65536

    async def _send(self, ws: ClientConnection, msg: dict[str, Any], pending: _Pending) -> None:
        rid = next(self._ids)
        msg["id"] = rid
        self._pending[rid] = pending
        await ws.send(msgpack.packb(msg))

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
            await self._send(ws, dict(msg), _Pending(op, future=future))
            return await future

    async def _unsubscribe(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.remove(sub)
        still = {p for s in self._subs for p in s.patterns}
        gone = [p for p in sub.patterns if p not in still]
        ws = self._ws
        if gone and ws is not None:
            try:
                await self._send(
                    ws, {"type": "unsubscribe", "topics": gone}, _Pending("unsubscribe")
                )
            except ConnectionClosed:
                pass  # the next connection will not subscribe them

    # -- messages ---------------------------------------------------------------------------

    async def _on_message(self, raw: dict[str, Any]) -> float | None:
        kind = raw.get("type")
        welcome_epoch = self._welcome.epoch if self._welcome else 0
        if kind == "tick":
            topic = raw.get("topic", "")
            raw["epoch"] = self._positions.epoch_of(topic, welcome_epoch)
        elif kind == "bar" and not raw.get("epoch"):
            raw["epoch"] = self._positions.epoch_of(raw.get("topic", ""), welcome_epoch)
        try:
            msg = decode(raw)
        except DecodeError as e:
            log.warning("tickcast: %s", e)
            return None
        if isinstance(msg, Tick | Bar | Snapshot):
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
        elif isinstance(msg, Status):
            await self._dispatch(msg)
        elif isinstance(msg, Lagged):
            self._positions.lagged(msg.topics)
            for sub in list(self._subs):
                if any(sub.wants(t) for t in msg.topics):
                    await sub._put(msg)
        elif isinstance(msg, Ack | Error):
            self._on_answer(msg)
        elif isinstance(msg, Shutdown):
            log.info("tickcast: server shutting down: %s", msg.reason)
            return msg.reconnect_after_ms / 1000 + random.uniform(0.0, 1.0)
        return None

    async def _dispatch(self, item: Tick | Bar | Snapshot | Status | Gap) -> None:
        for sub in list(self._subs):
            if sub.wants(item.topic):
                await sub._put(item)

    def _on_answer(self, answer: Ack | Error) -> None:
        rid = answer.id
        if rid is None or rid not in self._pending:
            # Answers come in request order: one without an id (rate_limited, bad_frame)
            # answers the oldest request still waiting.
            if isinstance(answer, Ack) or not self._pending:
                return
            rid = next(iter(self._pending))
        pending = self._pending.pop(rid)
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
                sub._finish(SubscribeError("subscribe", answer.code, answer.message, rid))
        elif isinstance(answer, Error):
            log.warning(
                "tickcast: %s refused: %s: %s", pending.op, answer.code, answer.message
            )

    # -- endings ----------------------------------------------------------------------------

    def _disconnected(self) -> None:
        self._ws = None
        self._connected.clear()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if p.future is not None and not p.future.done():
                p.future.set_exception(
                    ConnectionLost(f"the connection ended before the {p.op} was answered")
                )

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self._first is not None and not self._first.done():
            self._first.set_exception(error)
        for p in self._pending.values():
            if p.future is not None and not p.future.done():
                p.future.set_exception(error)
        self._pending = {}
        self._connected.set()  # wake _request, which raises self._error
        self._end_all(error)

    def _end_all(self, error: BaseException | None) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            sub._finish(error)
        if self._first is not None and not self._first.done():
            self._first.set_exception(error or ConnectionLost("the feed was closed"))
        self._connected.set()


def connect(
    url: str,
    *,
    token: str | None = None,
    ca_file: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    buffer: int = 1024,
    open_timeout: float = 10.0,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
) -> Feed:
    """A `Feed` on the tickcast server at `url` (``ws://HOST:PORT/ws`` or ``wss://...``).
    Use ``async with connect(url) as feed`` or ``feed = await connect(url)``.

    - `token`: the access token, sent as ``Authorization: Bearer TOKEN``.
    - `ca_file`: a PEM file of CA certificates to trust for ``wss://`` (e.g. a private CA);
      `ssl`: a complete `ssl.SSLContext` instead.
    - `buffer`: items held per subscription for a slow reader (then the feed stops reading
      and the server conflates, announcing it).
    - `open_timeout`: seconds for the TCP, TLS and WebSocket handshakes and the `welcome`.
    - `backoff_initial`, `backoff_max`: reconnect delays in seconds, doubling, each times
      ``random.uniform(0.5, 1.5)`` (PROTOCOL.md section 14).
    """
    return Feed(
        url,
        token=token,
        ca_file=ca_file,
        ssl=ssl,
        buffer=buffer,
        open_timeout=open_timeout,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
    )


def _unpack(data: bytes | str) -> dict[str, Any]:
    if isinstance(data, str):
        raise DecodeError("a text frame on a MessagePack connection")
    try:
        msg = msgpack.unpackb(data)
    except Exception as e:
        raise DecodeError(f"not MessagePack: {e}") from None
    if not isinstance(msg, dict):
        raise DecodeError(f"not a map: {msg!r:.100}")
    return msg


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("tickcast: sending a subscribe failed: %r", task.exception())

