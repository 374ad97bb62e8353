"""Test support: checking a subscription's stream as it arrives (`Seen`, `read_until`,
`read_until_lagged`; for order books, every checksum against the subscription's book),
waiting for a subscription's `ack` (`acked`), the synthetic symbols of ``--symbols 5``, and
signed tokens (`jwt`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from collections.abc import Callable

import tickcast
from tickcast import Book, BookUpdate, Gap, Item, Lagged, Level

SYMBOLS = [f"SYN000{i}" for i in range(5)]  # what --symbols 5 makes


class Seen:
    """Everything a subscription yielded, checked as it arrives: per topic, no seq twice
    in an epoch and no jump without a `Gap` item just before it. On a book topic seqs may
    skip, but every `BookUpdate` chains (`prev_seq` is the seq of the topic's previous item),
    a `Gap` comes only just before a `Book`, and (with `check_book`) the subscription's book
    after each item has the item's checksum: `books` keeps it per ``(topic, seq)``."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.gaps: list[Gap] = []
        self.lagged: list[Lagged] = []
        self.last: dict[str, tuple[int, int]] = {}
        self.count: dict[str, int] = defaultdict(int)
        self._gap_pending: dict[str, Gap] = {}
        self.books: dict[tuple[str, int], tuple[list[Level], list[Level]]] = {}
        self.book_items: dict[str, int] = defaultdict(int)  # Book items per topic
        self.verified = 0

    def add(self, item: Item) -> None:
        self.items.append(item)
        if isinstance(item, Gap):
            self.gaps.append(item)
            self._gap_pending[item.topic] = item
            return
        if isinstance(item, Lagged):
            self.lagged.append(item)
            return
        if isinstance(item, Book | BookUpdate):
            self._book(item)
            return
        if item.seq is None:
            return
        epoch = getattr(item, "epoch", 0)
        last = self.last.get(item.topic)
        gap = self._gap_pending.pop(item.topic, None)
        if last is not None and last[0] == epoch:
            assert item.seq > last[1], f"duplicate {item.topic} {item.seq} after {last}"
            if item.seq != last[1] + 1:
                assert gap is not None, f"silent jump {item.topic} {last} -> {item.seq}"
        elif last is not None:
            assert gap is not None and gap.cause in ("new_epoch",), f"silent new epoch {item}"
        if gap is not None:
            assert gap.received == item.seq
        self.last[item.topic] = (epoch, item.seq)
        self.count[item.topic] += 1

    def _book(self, item: Book | BookUpdate) -> None:
        gap = self._gap_pending.pop(item.topic, None)
        last = self.last.get(item.topic)
        if isinstance(item, BookUpdate):
            assert gap is None, f"a gap before an update: {gap}"
            assert last is not None, f"an update before any book: {item}"
            assert item.prev_seq == last[1], f"broken chain {item.topic} {last} -> {item}"
            assert item.epoch == last[0], f"an update of another epoch: {item}"
        else:
            self.book_items[item.topic] += 1
            if gap is not None:
                assert gap.received == item.seq and gap.epoch == item.epoch, (gap, item)
        self.last[item.topic] = (item.epoch, item.seq)
        self.count[item.topic] += 1

    def check_book(self, sub: tickcast.Subscription, item: Item) -> None:
        """After `item` came out of `sub`: its book is at the item's seq, with its checksum."""
        if isinstance(item, Book | BookUpdate):
            book = sub.book(item.topic)
            assert book is not None and book.seq == item.seq, (book, item)
            assert book.checksum() == item.checksum, f"checksum {item.topic} at {item.seq}"
            assert len(book.bids) <= book.depth and len(book.asks) <= book.depth
            assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:])), book.bids
            assert all(a[0] < b[0] for a, b in zip(book.asks, book.asks[1:])), book.asks
            self.books[(item.topic, item.seq)] = (list(book.bids), list(book.asks))
            self.verified += 1


async def read_until(
    sub: tickcast.Subscription, seen: Seen, done: Callable[[], bool], timeout: float = 20
) -> None:
    async def run() -> None:
        async for item in sub:
            seen.add(item)
            seen.check_book(sub, item)
            if done():
                return
        raise AssertionError("the subscription ended")

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(
            f"timed out; counts {dict(seen.count)}, gaps {seen.gaps[:5]}, "
            f"lagged {seen.lagged[:3]}"
        ) from None


async def read_until_lagged(sub: tickcast.Subscription, seen: Seen) -> None:
    """Reads `sub` as a slow reader would: it stops for 4 s after the first item (the server's
    queue overflows), then reads on until a `Lagged` and a `Gap` marked `lagged` came. At
    most 30 s."""
    deadline = time.monotonic() + 30
    slept = False
    async for item in sub:
        seen.add(item)
        seen.check_book(sub, item)
        if not slept:
            await asyncio.sleep(4)  # stop reading: the server's queue overflows
            slept = True
        if seen.lagged and any(g.lagged for g in seen.gaps):
            return
        assert time.monotonic() < deadline, f"no lagged+gap in 30 s: {seen.gaps[:3]}"
    raise AssertionError("the subscription ended")


async def acked(sub: tickcast.Subscription) -> None:
    """Waits (at most 5 s) until the server acknowledged `sub`'s subscribe."""
    async with asyncio.timeout(5):
        while sub.ack is None:
            await asyncio.sleep(0.01)


def jwt(secret: str, claims: dict[str, object]) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"
