"""Typed server messages (PROTOCOL.md section 7) and the client's own `Gap` item.

Every message is a frozen dataclass whose fields are the protocol's keys. `type` is a class
attribute holding the protocol's `type` string, so both ``msg.type == "tick"`` and
``match msg: case Tick(): ...`` work. Every item a subscription yields (`Item`) has `topic`
and `seq` (``None`` where the protocol has none: `Status.seq`, `Lagged.topic`).

`decode` turns one decoded MessagePack map into one of these classes; keys the class does not
know are ignored (PROTOCOL.md section 3), and a message whose `type` is unknown decodes to
``None``. Book levels (`Book.bids`, `BookUpdate.asks`, ...) decode to ``(price, size)``
tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Union

__all__ = [
    "Ack",
    "Bar",
    "Book",
    "BookUpdate",
    "Error",
    "Gap",
    "GapCause",
    "Heartbeat",
    "Item",
    "Lagged",
    "Level",
    "Pong",
    "RequestId",
    "ServerMessage",
    "Shutdown",
    "Snapshot",
    "Status",
    "Tick",
    "Topics",
    "Welcome",
    "decode",
]

RequestId = Union[int, str]
"""A request id: an unsigned integer or a string, echoed by the answer."""


@dataclass(frozen=True)
class Welcome:
    """The first message on every connection."""

    type: ClassVar[str] = "welcome"
    protocol: int
    server: str
    epoch: int
    """The server's own epoch (µs). Not the epoch of a topic in a cluster: see `Snapshot.epoch`."""
    heartbeat_ms: int
    max_message_bytes: int
    max_subscriptions: int
    ts: int


@dataclass(frozen=True)
class Ack:
    """A request (`subscribe`, `resume`, `unsubscribe`, `publish`) succeeded."""

    type: ClassVar[str] = "ack"
    op: str
    topics: list[str]
    subscriptions: list[str]
    id: RequestId | None = None


@dataclass(frozen=True)
class Error:
    """A request failed, or a frame could not be read (PROTOCOL.md section 11)."""

    type: ClassVar[str] = "error"
    code: str
    message: str
    id: RequestId | None = None


@dataclass(frozen=True)
class Topics:
    """The answer to `list`."""

    type: ClassVar[str] = "topics"
    topics: list[str]
    id: RequestId | None = None


@dataclass(frozen=True)
class Pong:
    """The answer to `ping`."""

    type: ClassVar[str] = "pong"
    ts: int
    id: RequestId | None = None


@dataclass(frozen=True)
class Tick:
    """One trade and the quote around it, on ``ticks.SYM`` (or a publisher's own topic)."""

    type: ClassVar[str] = "tick"
    topic: str
    seq: int
    ts: int
    """When the trade entered the system, ns since the UNIX epoch."""
    symbol: str
    price: float
    size: int
    bid: float
    ask: float
    volume: int
    """Cumulative session volume, shares."""
    epoch: int = 0
    """The topic's epoch, filled in by the client from the topic's own messages (a tick
    carries none on the wire); 0 when not known."""


@dataclass(frozen=True)
class Snapshot:
    """The state of a trades topic as of one trade (its `seq`, `ts`, `price`, ... and the
    topic's `epoch`; the session fields as of now): the latest, after a subscribe; a new
    topic's first trade; or, with ``rewind``, the oldest trade of the window, which `Tick`
    items then continue."""

    type: ClassVar[str] = "snapshot"
    topic: str
    epoch: int
    seq: int
    ts: int
    symbol: str
    price: float
    size: int
    bid: float
    ask: float
    volume: int
    open: float
    high: float
    low: float
    prev_close: float
    state: str = "open"
    recovered: bool | None = None
    """``False``: a resume could not be served and this snapshot replaces what was missed
    (the client also yields a `Gap` just before it). ``None`` when the key was absent."""


@dataclass(frozen=True)
class Bar:
    """An OHLCV bar on ``bars.INTERVAL.SYM``, INTERVAL one of ``1s``, ``1m``, ``5m``, ``15m``,
    ``1h`` (`interval_ms` 1000 to 3600000)."""

    type: ClassVar[str] = "bar"
    topic: str
    seq: int
    ts: int
    """Start of the interval, ns since the UNIX epoch."""
    interval_ms: int
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: int
    trades: int
    epoch: int = 0
    """The topic's epoch; 0 when an old server left it out (the client then fills in the
    topic's known epoch)."""
    recovered: bool | None = None


Level = tuple[float, int]
"""One price level of a book: ``(price, size)``. In a `BookUpdate`, size 0 removes the level."""


@dataclass(frozen=True)
class Book:
    """The order book of a symbol to the subscription's depth, on ``book.SYM``: the first
    message of the topic after a subscribe (and after every reconnect or resync), and a fresh
    one, with ``recovered=False``, when the server could not send a slow reader all its
    updates. Replace your book with it; the `BookUpdate` items that follow apply to it.

    The client yields one only after checking `checksum` against the levels; the book as
    the items so far leave it is `Subscription.book`."""

    type: ClassVar[str] = "book"
    topic: str
    seq: int
    """The seq of the last change this book includes; the next update's `prev_seq`."""
    epoch: int
    ts: int
    """Time of the last change, ns since the UNIX epoch."""
    symbol: str
    tick_size: float
    """The price grid: every price is a whole multiple of it."""
    depth: int
    """Levels per side (5, 10, 25 or 50)."""
    bids: list[Level]
    """The best `depth` bids, highest price first."""
    asks: list[Level]
    """The best `depth` asks, lowest price first."""
    checksum: int
    """CRC-32 of the book (`tickcast.book.checksum`)."""
    recovered: bool | None = None
    """``False``: this book replaces updates you did not get (the client also yields a `Gap`
    just before it). ``None`` when the key was absent."""


@dataclass(frozen=True)
class BookUpdate:
    """The levels of a book that changed at your depth, on ``book.SYM``. `seq` may skip
    (changes beyond your depth make no update for you); `prev_seq` never does: it is the
    `seq` of the book or update this one applies to.

    The client yields one only after applying it to its book and checking `checksum`; on a
    mismatch or a broken chain it yields a `Gap` and a fresh `Book` instead."""

    type: ClassVar[str] = "book_update"
    topic: str
    seq: int
    prev_seq: int
    ts: int
    symbol: str
    bids: list[Level]
    """Changed bid levels, highest first; size 0 removes the level."""
    asks: list[Level]
    """Changed ask levels, lowest first; size 0 removes the level."""
    checksum: int
    """CRC-32 of the book after this update."""
    epoch: int = 0
    """The topic's epoch, filled in by the client from the topic's `Book` (an update carries
    none on the wire); 0 when not known."""


@dataclass(frozen=True)
class Status:
    """The market state of a symbol changed (``open``, ``halted``, ``closed``)."""

    type: ClassVar[str] = "status"
    seq: ClassVar[None] = None
    topic: str
    state: str
    ts: int


@dataclass(frozen=True)
class Lagged:
    """This client fell behind and the server conflated its queue: messages of `topics`
    were dropped; the newest message of each follows (with a `Gap` of cause ``seq_jump``)."""

    type: ClassVar[str] = "lagged"
    topic: ClassVar[None] = None
    seq: ClassVar[None] = None
    topics: list[str]
    dropped: int


@dataclass(frozen=True)
class Heartbeat:
    """Sent by the server when it has sent nothing else for `Welcome.heartbeat_ms`."""

    type: ClassVar[str] = "heartbeat"
    ts: int


@dataclass(frozen=True)
class Shutdown:
    """The server is going away; close 1001 follows."""

    type: ClassVar[str] = "shutdown"
    reason: str
    reconnect_after_ms: int


GapCause = Literal["not_recovered", "new_epoch", "seq_jump", "checksum_mismatch", "broken_chain"]
"""Why messages of a topic were lost:

- ``not_recovered``: the server said so (``recovered: false``: a resume it could not serve,
  or a loss upstream of it; on a book topic, updates a slow reader could not be sent);
- ``new_epoch``: the topic restarted with a new epoch (e.g. the server restarted); what came
  after your position in the old epoch is lost, however much it was;
- ``seq_jump``: the seqs jumped, as after `Lagged` (then `Gap.lagged` is true) or under
  ``max_rate`` (never on a book topic, whose seqs may skip by design);
- ``checksum_mismatch`` (book topics): after applying an update, the book's checksum was not
  the update's: the client dropped that update, subscribed the topic again, and yields this
  `Gap` just before the fresh `Book`;
- ``broken_chain`` (book topics): an update's `prev_seq` was not the seq of the book the
  client had (an update went missing): resynchronized the same way.
"""


@dataclass(frozen=True)
class Gap:
    """Messages of `topic` were lost to you; yielded in the stream just before the message
    that revealed it (which follows, with seq `received`)."""

    type: ClassVar[str] = "gap"
    topic: str
    epoch: int
    """The epoch of the message that revealed the gap (the topic's new epoch for
    ``new_epoch``)."""
    expected: int | None
    """The first seq you did not get, or ``None`` when unknown (a new epoch, a topic you had
    no position for, a book topic: its seqs skip by design)."""
    received: int
    """The seq that arrived instead."""
    cause: GapCause
    lagged: bool = False
    """True when the server announced the loss with `Lagged` (conflation of a slow reader)."""
    previous_epoch: int | None = field(default=None)
    """For ``new_epoch``: the epoch your position was in."""

    @property
    def seq(self) -> int:
        """The seq that arrived (`received`)."""
        return self.received

    @property
    def missed(self) -> int | None:
        """How many messages were lost, when known."""
        return None if self.expected is None else max(0, self.received - self.expected)


ServerMessage = Union[
    Welcome,
    Ack,
    Error,
    Topics,
    Pong,
    Tick,
    Snapshot,
    Bar,
    Book,
    BookUpdate,
    Status,
    Lagged,
    Heartbeat,
    Shutdown,
]
"""Every message a tickcast server sends."""

Item = Union[Tick, Snapshot, Bar, Book, BookUpdate, Status, Lagged, Gap]
"""What a subscription yields: the topics' messages, `Lagged`, and a `Gap` for every loss."""

_CLASSES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        Welcome,
        Ack,
        Error,
        Topics,
        Pong,
        Tick,
        Snapshot,
        Bar,
        Book,
        BookUpdate,
        Status,
        Lagged,
        Heartbeat,
        Shutdown,
    )
}
_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(f.name for f in fields(cls)) for name, cls in _CLASSES.items()
}


class DecodeError(ValueError):
    """A server message lacked a required field or was not a map."""


def decode(raw: object) -> ServerMessage | None:
    """One decoded MessagePack map to its message class; ``None`` for an unknown `type`.

    Raises `DecodeError` when `raw` is not a map with a string `type`, or a known message
    lacks a required field.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise DecodeError(f"not a message: {raw!r:.200}")
    kind: str = raw["type"]
    cls = _CLASSES.get(kind)
    if cls is None:
        return None
    known = _FIELDS[kind]
    args = {k: v for k, v in raw.items() if k in known}
    try:
        if cls is Book or cls is BookUpdate:
            args["bids"] = _levels(args.get("bids"))
            args["asks"] = _levels(args.get("asks"))
        msg: ServerMessage = cls(**args)
    except (TypeError, ValueError) as e:
        raise DecodeError(f"{kind}: {e}") from None
    return msg


def _levels(raw: object) -> list[Level]:
    """``[[price, size], ...]`` as a list of `Level` tuples."""
    if not isinstance(raw, list):
        raise TypeError(f"levels are a list of [price, size], not {raw!r:.100}")
    out: list[Level] = []
    for level in raw:
        if not isinstance(level, (list, tuple)) or len(level) != 2:
            raise TypeError(f"a level is [price, size], not {level!r:.100}")
        out.append((float(level[0]), int(level[1])))
    return out
