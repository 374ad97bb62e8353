"""Typed server messages (PROTOCOL.md section 7) and the client's own `Gap` item.

Every message is a frozen dataclass whose fields are the protocol's keys. `type` is a class
attribute holding the protocol's `type` string, so both ``msg.type == "tick"`` and
``match msg: case Tick(): ...`` work. Every item a subscription yields (`Item`) has `topic`
and `seq` (``None`` where the protocol has none: `Status.seq`, `Lagged.topic`).

`decode` turns one decoded MessagePack map into one of these classes; keys the class does not
know are ignored (PROTOCOL.md section 3), and a message whose `type` is unknown decodes to
``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Union

__all__ = [
    "Ack",
    "Bar",
    "Error",
    "Gap",
    "GapCause",
    "Heartbeat",
    "Item",
    "Lagged",
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


GapCause = Literal["not_recovered", "new_epoch", "seq_jump"]
"""Why messages of a topic were lost:

- ``not_recovered``: the server said so (``recovered: false``: a resume it could not serve,
  or a loss upstream of it);
- ``new_epoch``: the topic restarted with a new epoch (e.g. the server restarted); what came
  after your position in the old epoch is lost, however much it was;
- ``seq_jump``: the seqs jumped, as after `Lagged` (then `Gap.lagged` is true) or under
  ``max_rate``.
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
    no position for)."""
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
    Welcome, Ack, Error, Topics, Pong, Tick, Snapshot, Bar, Status, Lagged, Heartbeat, Shutdown
]
"""Every message a tickcast server sends."""

Item = Union[Tick, Snapshot, Bar, Status, Lagged, Gap]
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
    try:
        msg: ServerMessage = cls(**{k: v for k, v in raw.items() if k in known})
    except TypeError as e:
        raise DecodeError(f"{kind}: {e}") from None
    return msg
