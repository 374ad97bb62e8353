"""Recovery state (PROTOCOL.md sections 8, 13, 14): per-topic positions and the verdict on
each message, resume pieces, topic matching and the reconnect backoff.

Each topic's epoch comes from that topic's own messages (`snapshot.epoch`, `bar.epoch`; a
`tick` keeps its topic's), never from `welcome` (in a cluster the two differ). Epochs are
compared for equality only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .messages import GapCause

__all__ = [
    "Backoff",
    "Duplicate",
    "Gap",
    "InOrder",
    "Position",
    "Positions",
    "Verdict",
    "matches",
    "pieces",
]

Position = tuple[int, int]
"""``(epoch, seq)`` of the last `tick` or `bar` (or `snapshot`) you have of a topic."""


@dataclass(frozen=True)
class InOrder:
    """The next message of its topic, or the first one."""


@dataclass(frozen=True)
class Duplicate:
    """Already had (a seq not above ours in the same epoch): drop it."""


@dataclass(frozen=True)
class Gap:
    """Messages were lost: seqs from `expected` (``None``: unknown) up to `received`."""

    expected: int | None
    received: int
    cause: GapCause
    lagged: bool = False
    previous_epoch: int | None = None


Verdict = InOrder | Duplicate | Gap


class Positions:
    """The last ``(epoch, seq)`` seen per topic, and the verdict on every new message."""

    def __init__(self, initial: Mapping[str, Position] | None = None) -> None:
        self._positions: dict[str, Position] = {}
        self._lagged: set[str] = set()
        if initial:
            self.seed(initial)

    def seed(self, positions: Mapping[str, Position]) -> None:
        """Set positions given by the user (``since``), replacing what is known."""
        for topic, (epoch, seq) in positions.items():
            self._positions[topic] = (int(epoch), int(seq))

    def get(self, topic: str) -> Position | None:
        """The position of `topic`, if any."""
        return self._positions.get(topic)

    def epoch_of(self, topic: str, fallback: int) -> int:
        """The epoch of `topic` as far as its own messages told it, else `fallback`
        (``welcome.epoch``: right for a topic of a standalone server)."""
        known = self._positions.get(topic)
        return fallback if known is None else known[0]

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop what is known of every topic for which `keep` is false (nobody follows it any
        more: a later subscription starts it afresh, with a snapshot or a rewind window,
        rather than as a jump from an old position)."""
        self._positions = {t: p for t, p in self._positions.items() if keep(t)}
        self._lagged = {t for t in self._lagged if keep(t)}

    def lagged(self, topics: Iterable[str]) -> None:
        """The server announced (``lagged``) that messages of `topics` were dropped."""
        self._lagged.update(topics)

    def on_seq(self, topic: str, epoch: int, seq: int) -> Verdict:
        """A `tick` or `bar` with `seq` of `epoch` arrived on `topic`."""
        return self._judge(topic, epoch, seq, recovered=None)

    def on_snapshot(self, topic: str, epoch: int, seq: int, recovered: bool | None) -> Verdict:
        """A `snapshot` (or a `bar` with `recovered: false`) arrived. It is the topic's state:
        never a duplicate; `recovered` false is always an announced gap."""
        verdict = self._judge(topic, epoch, seq, recovered)
        if isinstance(verdict, Duplicate):
            if recovered is False:
                # The server could not serve our position (one it never had): its state wins.
                verdict = Gap(None, seq, "not_recovered", topic in self._lagged)
                self._lagged.discard(topic)
            else:
                return InOrder()
        self._positions[topic] = (epoch, seq)
        return verdict

    def _judge(self, topic: str, epoch: int, seq: int, recovered: bool | None) -> Verdict:
        last = self._positions.get(topic)
        if last is None:
            verdict: Verdict = (
                Gap(None, seq, "not_recovered") if recovered is False else InOrder()
            )
        elif epoch != last[0]:
            verdict = Gap(None, seq, "new_epoch", topic in self._lagged, last[0])
        elif seq <= last[1]:
            return Duplicate()
        elif seq == last[1] + 1 and recovered is not False:
            verdict = InOrder()
        else:
            cause: GapCause = "not_recovered" if recovered is False else "seq_jump"
            verdict = Gap(last[1] + 1, seq, cause, topic in self._lagged)
        self._lagged.discard(topic)
        self._positions[topic] = (epoch, seq)
        return verdict

    def since(self, patterns: Iterable[str]) -> dict[str, Position]:
        """The positions of every known topic that one of `patterns` matches."""
        pats = list(patterns)
        return {t: p for t, p in self._positions.items() if any(matches(x, t) for x in pats)}

    def __len__(self) -> int:
        return len(self._positions)

    def items(self) -> Iterator[tuple[str, Position]]:
        """Every ``(topic, position)``."""
        return iter(self._positions.items())


def pieces(
    positions: Mapping[str, Position], max_bytes: int = 65536, max_topics: int = 1000
) -> list[dict[str, Position]]:
    """Splits `positions` into maps for `resume` messages of at most `max_topics` topics that
    stay under `max_bytes` once encoded (an estimate: MessagePack adds at most 24 bytes a
    position to the topic's length)."""
    out: list[dict[str, Position]] = []
    piece: dict[str, Position] = {}
    size = 32
    for topic, position in sorted(positions.items()):
        cost = len(topic.encode()) + 24
        if piece and (size + cost > max_bytes or len(piece) >= max_topics):
            out.append(piece)
            piece, size = {}, 32
        piece[topic] = position
        size += cost
    if piece:
        out.append(piece)
    return out


def matches(pattern: str, topic: str) -> bool:
    """Whether `pattern` (NATS-style: ``*`` one token, ``>`` as the last token one or more)
    matches `topic` (PROTOCOL.md section 4)."""
    ps = pattern.split(".")
    ts = topic.split(".")
    for i, p in enumerate(ps):
        if p == ">":
            return i == len(ps) - 1 and len(ts) > i
        if i >= len(ts) or (p != "*" and p != ts[i]):
            return False
    return len(ps) == len(ts)


class Backoff:
    """Reconnect delays (PROTOCOL.md section 14): `initial` seconds doubling to `maximum`,
    each multiplied by ``random.uniform(0.5, 1.5)``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        """The delay before the next attempt; doubles the one after it."""
        delay = self._next * random.uniform(0.5, 1.5)
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        """Back to `initial`, after a connection that worked."""
        self._next = self.initial
