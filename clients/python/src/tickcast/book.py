"""Order books (``book.SYM``, PROTOCOL.md section 8, "Order books"): `OrderBook`, a local
book kept from a `Book` and the `BookUpdate` items after it; `checksum`, the CRC-32 that
every book and update carries; and `Books`, the feed's verdict on each book message: apply
and verify it, or drop it and resynchronize the topic.

A book topic is state, not history: its seqs skip (changes beyond your depth make no update
for you), and it is recovered by a fresh `Book`, never by a replay. What must hold is the
chain: each update's `prev_seq` is the seq of the book you have, and after applying it the
book's checksum is the update's.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .messages import Book, BookUpdate, Gap, GapCause, Level

__all__ = [
    "CHECKSUM_LEVELS",
    "Accept",
    "Books",
    "Drop",
    "OrderBook",
    "Resync",
    "BookVerdict",
    "checksum",
    "checksum_text",
    "is_book_topic",
]

CHECKSUM_LEVELS = 10
"""Levels per side the checksum covers."""


def is_book_topic(topic: str) -> bool:
    """Whether `topic` is an order book topic, ``book.SYM``."""
    kind, _, symbol = topic.partition(".")
    return kind == "book" and bool(symbol) and "." not in symbol


def _ticks(price: float, tick_size: float) -> int:
    """``round(price / tick_size)``, halves away from zero (as the server rounds)."""
    x = price / tick_size
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def checksum_text(bids: Sequence[Level], asks: Sequence[Level], tick_size: float) -> str:
    """The text the checksum hashes: the top 10 asks from the best (lowest) upward, ``|``, the
    top 10 bids from the best (highest) downward, each level ``{price_ticks}:{size}`` with
    ``price_ticks = round(price / tick_size)``, levels joined by ``,``."""

    def side(levels: Sequence[Level]) -> str:
        return ",".join(
            f"{_ticks(price, tick_size)}:{size}" for price, size in levels[:CHECKSUM_LEVELS]
        )

    return f"{side(asks)}|{side(bids)}"


def checksum(bids: Sequence[Level], asks: Sequence[Level], tick_size: float) -> int:
    """The checksum of a book (PROTOCOL.md section 8): CRC-32 (zlib's) of `checksum_text`.
    `bids` highest first, `asks` lowest first."""
    return zlib.crc32(checksum_text(bids, asks, tick_size).encode())


class OrderBook:
    """A local order book of one symbol to one depth, kept from a `Book` (`from_message`)
    and the `BookUpdate` messages after it (`apply`).

    `bids` (highest price first) and `asks` (lowest first) hold at most `depth` levels each,
    as ``(price, size)``; `seq` is the seq of the last change applied, which the next
    update's `prev_seq` must equal. `checksum` is what each `Book` and `BookUpdate` carries
    for the book as it should be.
    """

    def __init__(
        self,
        topic: str,
        symbol: str,
        *,
        tick_size: float,
        depth: int,
        seq: int = 0,
        epoch: int = 0,
        ts: int = 0,
        bids: Iterable[Level] = (),
        asks: Iterable[Level] = (),
    ) -> None:
        if not tick_size > 0:
            raise ValueError(f"tick_size must be positive, not {tick_size!r}")
        self.topic = topic
        self.symbol = symbol
        self.tick_size = tick_size
        self.depth = depth
        """Levels kept per side."""
        self.seq = seq
        """The seq of the last change this book includes."""
        self.epoch = epoch
        """The topic's epoch, from the `Book`."""
        self.ts = ts
        """Time of the last change, ns since the UNIX epoch."""
        self.bids: list[Level] = []
        """Bids, highest price first, at most `depth`."""
        self.asks: list[Level] = []
        """Asks, lowest price first, at most `depth`."""
        self._apply_side(self.bids, bids, lambda a, b: a > b)
        self._apply_side(self.asks, asks, lambda a, b: a < b)

    @classmethod
    def from_message(cls, book: Book) -> OrderBook:
        """The book a `Book` message describes (its levels, seq, epoch, depth)."""
        return cls(
            book.topic,
            book.symbol,
            tick_size=book.tick_size,
            depth=book.depth,
            seq=book.seq,
            epoch=book.epoch,
            ts=book.ts,
            bids=book.bids,
            asks=book.asks,
        )

    def apply(self, update: BookUpdate) -> None:
        """Apply the changed levels of `update` (size 0 removes a level; a price not in the
        book adds it), keep the best `depth` levels a side, and take its `seq` and `ts`.
        It does not check `update.prev_seq` or `update.checksum`: compare `prev_seq` with
        `seq` before, and `checksum()` with the update's after (`Books` does both)."""
        self._apply_side(self.bids, update.bids, lambda a, b: a > b)
        self._apply_side(self.asks, update.asks, lambda a, b: a < b)
        self.seq = update.seq
        self.ts = update.ts

    def _apply_side(
        self, side: list[Level], changes: Iterable[Level], better: Callable[[int, int], bool]
    ) -> None:
        for price, size in changes:
            ticks = _ticks(price, self.tick_size)
            at = 0
            while at < len(side) and better(_ticks(side[at][0], self.tick_size), ticks):
                at += 1
            if at < len(side) and _ticks(side[at][0], self.tick_size) == ticks:
                del side[at]
            if size > 0:
                side.insert(at, (price, size))
        del side[self.depth :]

    def checksum(self) -> int:
        """The checksum of this book (`tickcast.book.checksum`)."""
        return checksum(self.bids, self.asks, self.tick_size)

    @property
    def best_bid(self) -> Level | None:
        """The highest bid, ``None`` when there is none."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        """The lowest ask, ``None`` when there is none."""
        return self.asks[0] if self.asks else None

    def copy(self) -> OrderBook:
        """An independent copy."""
        return OrderBook(
            self.topic,
            self.symbol,
            tick_size=self.tick_size,
            depth=self.depth,
            seq=self.seq,
            epoch=self.epoch,
            ts=self.ts,
            bids=self.bids,
            asks=self.asks,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderBook):
            return NotImplemented
        return (self.topic, self.seq, self.epoch, self.depth, self.bids, self.asks) == (
            other.topic,
            other.seq,
            other.epoch,
            other.depth,
            other.bids,
            other.asks,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        def side(levels: list[Level]) -> str:
            return " ".join(f"{p}@{s}" for p, s in levels[:3]) + (" ..." if len(levels) > 3 else "")

        return (
            f"OrderBook({self.topic} seq={self.seq} depth={self.depth} "
            f"bids=[{side(self.bids)}] asks=[{side(self.asks)}])"
        )


@dataclass(frozen=True)
class Accept:
    """Verified: pass the message on, after `gap` when there is one."""

    gap: Gap | None = None


@dataclass(frozen=True)
class Drop:
    """Not for the consumer: an update of a topic waiting for its fresh `Book`."""


@dataclass(frozen=True)
class Resync:
    """The book is wrong (`cause`): drop the message and subscribe the topic again."""

    cause: GapCause


BookVerdict = Accept | Drop | Resync


class Books:
    """The feed's book of every ``book.SYM`` topic, and the verdict on each book message.

    A `Book` is checked against its checksum and replaces the topic's book: after a
    resync, a ``recovered: false`` or a new epoch, with a `Gap` saying so; otherwise (the
    first book, or the fresh one after a reconnect, which recovers the book by its state)
    silently. A `BookUpdate` must chain (`prev_seq` equal to the book's seq) and, applied,
    give its checksum; otherwise the topic waits for a fresh `Book` (its updates dropped)
    and the feed resubscribes it.
    """

    def __init__(self) -> None:
        self._books: dict[str, OrderBook] = {}
        self._resync: dict[str, GapCause] = {}
        self._lagged: set[str] = set()
        self.verified = 0
        """Books and updates whose checksum matched, since the feed began."""
        self.resyncs = 0
        """Times a book was found wrong (mismatch or broken chain)."""

    def get(self, topic: str) -> OrderBook | None:
        """The feed's book of `topic` (ahead of what a subscription has yielded)."""
        return self._books.get(topic)

    def epoch_of(self, topic: str) -> int:
        """The epoch of `topic`'s book, 0 when none."""
        book = self._books.get(topic)
        return 0 if book is None else book.epoch

    def resyncing(self, topic: str) -> bool:
        """Whether `topic` waits for a fresh `Book`."""
        return topic in self._resync

    def lagged(self, topics: Iterable[str]) -> None:
        """The server announced (``lagged``) that updates of `topics` were dropped."""
        self._lagged.update(t for t in topics if is_book_topic(t))

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Drop every topic for which `keep` is false (nobody follows it any more)."""
        self._books = {t: b for t, b in self._books.items() if keep(t)}
        self._resync = {t: c for t, c in self._resync.items() if keep(t)}
        self._lagged = {t for t in self._lagged if keep(t)}

    def on_book(self, msg: Book) -> BookVerdict:
        """A `Book` arrived."""
        topic = msg.topic
        if checksum(msg.bids, msg.asks, msg.tick_size) != msg.checksum:
            return self._wrong(topic, "checksum_mismatch")
        old = self._books.get(topic)
        pending = self._resync.pop(topic, None)
        lagged = topic in self._lagged
        self._lagged.discard(topic)
        cause: GapCause | None = None
        if old is not None and old.epoch != msg.epoch:
            cause = "new_epoch"
        elif pending is not None:
            cause = pending
        elif msg.recovered is False:
            cause = "not_recovered"
        self._books[topic] = OrderBook.from_message(msg)
        self.verified += 1
        if cause is None:
            return Accept()
        gap = Gap(
            topic=topic,
            epoch=msg.epoch,
            expected=None,
            received=msg.seq,
            cause=cause,
            lagged=lagged,
            previous_epoch=old.epoch if cause == "new_epoch" and old is not None else None,
        )
        return Accept(gap)

    def on_update(self, msg: BookUpdate) -> BookVerdict:
        """A `BookUpdate` arrived: applied to the topic's book when it chains and verifies."""
        topic = msg.topic
        if topic in self._resync:
            return Drop()
        book = self._books.get(topic)
        if book is None or msg.prev_seq != book.seq:
            return self._wrong(topic, "broken_chain")
        book.apply(msg)
        if book.checksum() != msg.checksum:
            return self._wrong(topic, "checksum_mismatch")
        self.verified += 1
        return Accept()

    def _wrong(self, topic: str, cause: GapCause) -> Resync:
        self.resyncs += 1
        self._resync.setdefault(topic, cause)
        return Resync(cause)
