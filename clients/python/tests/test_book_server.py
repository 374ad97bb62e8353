"""Order books against the real tickcast-server: a kept book equals a fresh subscriber's at
the same seq with every checksum verified; depths 5 and 25; a crafted mismatch and a
crafted missed update resync (one `Gap`, then a fresh `Book`), also under a wildcard that
covers trades; a reconnect replaces books silently; a slow reader; a server restart.
Every wait is bounded by a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import tickcast
from tickcast import Book, BookUpdate, Gap, Tick

from conftest import SLOW, ProxyFactory, Server
from support import SYMBOLS, Seen, read_until, read_until_lagged

BOOKS = [f"book.{s}" for s in SYMBOLS]


async def first_book(url: str, topic: str, **options: Any) -> Book:
    """The `Book` a fresh subscriber of `topic` gets first."""
    async with tickcast.connect(url) as feed:
        sub = feed.subscribe(topic, **options)
        item = await asyncio.wait_for(anext(sub), 15)
        assert isinstance(item, Book) and item.recovered is None, item
        assert tickcast.book.checksum(item.bids, item.asks, item.tick_size) == item.checksum
        return item


async def same_as_fresh(url: str, sub: tickcast.Subscription, seen: Seen, topic: str) -> None:
    """A fresh subscriber's first book equals the book `sub` kept, at that book's seq."""
    fresh = await first_book(url, topic)
    await read_until(sub, seen, lambda: seen.last[topic][1] >= fresh.seq)
    kept = seen.books.get((topic, fresh.seq))
    assert kept is not None, f"{topic}: no item at seq {fresh.seq} (depths differ?)"
    assert kept == (fresh.bids, fresh.asks), (topic, fresh.seq)


class Tamper:
    """Alters the next `book_update` of `topic` as it arrives at `feed`, before the feed
    checks it: ``checksum`` flips a bit of its checksum; ``drop`` loses it (the next
    update's `prev_seq` then names a seq the feed never had)."""

    def __init__(self, feed: tickcast.Feed, topic: str, how: str) -> None:
        self.seq: int | None = None
        router = feed._router
        original: Callable[[dict[str, Any]], Awaitable[float | None]] = router.on_message

        async def on_message(raw: dict[str, Any]) -> float | None:
            if self.seq is None and raw.get("type") == "book_update" and raw["topic"] == topic:
                self.seq = raw["seq"]
                if how == "drop":
                    return None
                raw["checksum"] ^= 1
            return await original(raw)

        router.on_message = on_message  # type: ignore[method-assign]


def books_of(seen: Seen, topic: str) -> int:
    """How many `Book` items of `topic` `seen` has."""
    return seen.book_items[topic]


def updates(seen: Seen, topic: str) -> list[BookUpdate]:
    return [i for i in seen.items if isinstance(i, BookUpdate) and i.topic == topic]


async def test_a_kept_book_equals_a_fresh_subscribers_at_the_same_seq(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("book.*")
        await read_until(sub, seen, lambda: all(seen.count[t] >= 20 for t in BOOKS), timeout=30)
        for topic in BOOKS:
            await same_as_fresh(url, sub, seen, topic)
        await read_until(sub, seen, lambda: all(seen.count[t] >= 40 for t in BOOKS), timeout=30)
        await same_as_fresh(url, sub, seen, BOOKS[0])
        firsts = [i for i in seen.items if isinstance(i, Book)]
        assert sorted(b.topic for b in firsts) == BOOKS  # one book each, then updates
        assert all(b.depth == 10 and b.epoch == firsts[0].epoch for b in firsts)
        assert seen.gaps == [] and seen.lagged == [] and feed.books_resynced == 0
        assert seen.verified == len(seen.items) and feed.books_verified >= seen.verified
        assert all(u.epoch == firsts[0].epoch for u in updates(seen, BOOKS[0]))
        book = sub.book(BOOKS[0])
        assert book is not None and (book.best_bid or book.best_ask)
        assert feed.positions.keys().isdisjoint(BOOKS)  # books are not resumed by position


async def test_depth_5_and_25(server: Server) -> None:
    url = await server.start()
    topic = BOOKS[1]
    async with tickcast.connect(url) as f5, tickcast.connect(url) as f25:
        s5, s25 = f5.subscribe(topic, depth=5), f25.subscribe(topic, depth=25)
        seen5, seen25 = Seen(), Seen()
        await read_until(s5, seen5, lambda: seen5.count[topic] >= 40, timeout=30)
        await read_until(s25, seen25, lambda: seen25.last[topic][1] >= seen5.last[topic][1])
        b5, b25 = seen5.items[0], seen25.items[0]
        assert isinstance(b5, Book) and isinstance(b25, Book)
        assert (b5.depth, b25.depth) == (5, 25)
        assert max(len(b) for b, _ in seen5.books.values()) == 5
        assert max(len(b) for b, _ in seen25.books.values()) > 5
        # A change at depth 5 is a change at depth 25: the same seq, the same top 5.
        start, end = max(b5.seq, b25.seq), seen25.last[topic][1]
        common = [seq for (_, seq) in seen5.books if start <= seq <= end]
        assert len(common) >= 20
        for seq in common:
            bids, asks = seen25.books[(topic, seq)]
            assert (bids[:5], asks[:5]) == seen5.books[(topic, seq)], seq
        # Changes beyond depth 5 make no update at 5: seqs skip there, and that is no gap.
        assert any(u.seq > u.prev_seq + 1 for u in updates(seen5, topic))
        assert len(updates(seen25, topic)) > len([s for s in common if s > b25.seq])
        assert seen5.gaps == seen25.gaps == []
        assert f5.books_resynced == f25.books_resynced == 0
        await same_as_fresh_at_depth(url, s5, seen5, topic, 5)


async def same_as_fresh_at_depth(
    url: str, sub: tickcast.Subscription, seen: Seen, topic: str, depth: int
) -> None:
    fresh = await first_book(url, topic, depth=depth)
    await read_until(sub, seen, lambda: seen.last[topic][1] >= fresh.seq)
    assert seen.books[(topic, fresh.seq)] == (fresh.bids, fresh.asks)


async def resync(server: Server, how: str, cause: str) -> None:
    url = await server.start()
    topic = BOOKS[2]
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe(topic)
        await read_until(sub, seen, lambda: seen.count[topic] >= 5, timeout=30)
        tamper = Tamper(feed, topic, how)
        await read_until(
            sub, seen, lambda: len(seen.gaps) == 1 and seen.items[-1] is not seen.gaps[0],
            timeout=30,
        )
        gap = seen.gaps[0]
        assert (gap.topic, gap.cause, gap.expected, gap.lagged) == (topic, cause, None, False)
        fresh = seen.items[seen.items.index(gap) + 1]  # the Gap comes just before the Book
        assert isinstance(fresh, Book) and fresh.seq == gap.received and fresh.recovered is None
        assert tamper.seq is not None
        assert all(u.seq != tamper.seq for u in updates(seen, topic))  # never yielded
        count = seen.count[topic]
        await read_until(sub, seen, lambda: seen.count[topic] >= count + 10, timeout=30)
        await same_as_fresh(url, sub, seen, topic)
        assert feed.books_resynced == 1 and len(seen.gaps) == 1
        assert sub.ack is not None and sub.ack.subscriptions == [topic]


async def test_a_crafted_checksum_mismatch_resyncs(server: Server) -> None:
    await resync(server, "checksum", "checksum_mismatch")


async def test_a_missed_update_resyncs(server: Server) -> None:
    await resync(server, "drop", "broken_chain")


async def test_a_resync_under_a_wildcard_resumes_its_other_topics(server: Server) -> None:
    url = await server.start()
    sym = SYMBOLS[3]
    topic = f"book.{sym}"
    async with tickcast.connect(url) as feed:
        seen = Seen()
        # `*.SYM` covers ticks.SYM and book.SYM; `book.*` the other books: both go and come back.
        sub = feed.subscribe(f"*.{sym}", "book.*")
        await read_until(
            sub, seen, lambda: seen.count[topic] >= 5 and seen.count[f"ticks.{sym}"] >= 5,
            timeout=30,
        )
        Tamper(feed, topic, "checksum")
        await read_until(sub, seen, lambda: len(seen.gaps) == 1, timeout=30)
        counts = dict(seen.count)
        await read_until(
            sub,
            seen,
            lambda: all(seen.count[t] >= counts.get(t, 0) + 5 for t in [*BOOKS, f"ticks.{sym}"]),
            timeout=30,
        )
        assert [g.cause for g in seen.gaps] == ["checksum_mismatch"]  # trades: no hole
        # Every other book came afresh too (before the gap: the topics come in name order),
        # silently.
        for other in BOOKS:
            assert books_of(seen, other) == 2, other
        ticks = [i.seq for i in seen.items if isinstance(i, Tick) and i.topic == f"ticks.{sym}"]
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # replayed: no hole
        assert feed.books_resynced == 1


async def test_a_reconnect_replaces_books_without_a_gap(
    server: Server, proxy_factory: ProxyFactory
) -> None:
    await server.start()
    proxy, url = await proxy_factory(server.addr)
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("book.*", depth=25)
        await read_until(sub, seen, lambda: all(seen.count[t] >= 5 for t in BOOKS), timeout=30)
        proxy.cut()
        # Items read before the cut may still be buffered: wait for each topic's fresh book.
        await read_until(sub, seen, lambda: all(books_of(seen, t) == 2 for t in BOOKS), timeout=30)
        counts = dict(seen.count)
        await read_until(
            sub, seen, lambda: all(seen.count[t] >= counts[t] + 5 for t in BOOKS), timeout=30
        )
        assert feed.connections == 2
        assert seen.gaps == [] and feed.books_resynced == 0
        books = [i for i in seen.items if isinstance(i, Book)]
        assert len(books) == 2 * len(BOOKS) and all(b.depth == 25 for b in books)
        await same_as_fresh_at_depth(url, sub, seen, BOOKS[4], 25)


async def test_a_slow_reader_gets_lagged_then_a_fresh_book(server: Server) -> None:
    await server.start(*SLOW)
    async with tickcast.connect(server.url, buffer=1) as feed:
        seen = Seen()
        sub = feed.subscribe("book.*", depth=50)
        await read_until_lagged(sub, seen)
        gap = next(g for g in seen.gaps if g.lagged)
        assert gap.cause == "not_recovered" and gap.topic in {t for x in seen.lagged for t in x.topics}
        book = await asyncio.wait_for(anext(sub), 10)  # the recovered: false book follows
        assert isinstance(book, Book) and book.recovered is False and book.seq == gap.received
        assert feed.books_resynced == 0


async def test_a_server_restart_is_one_new_epoch_gap_per_book(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("book.*")
        await read_until(sub, seen, lambda: all(seen.count[t] >= 3 for t in BOOKS), timeout=30)
        old = {t: seen.last[t][0] for t in BOOKS}
        await server.restart()
        await read_until(sub, seen, lambda: all(books_of(seen, t) == 2 for t in BOOKS), timeout=30)
        counts = dict(seen.count)
        await read_until(
            sub, seen, lambda: all(seen.count[t] >= counts[t] + 3 for t in BOOKS), timeout=30
        )
        assert sorted(g.topic for g in seen.gaps) == BOOKS
        assert all(g.cause == "new_epoch" and g.previous_epoch == old[g.topic] for g in seen.gaps)
        assert all(isinstance(g, Gap) and g.epoch != old[g.topic] for g in seen.gaps)
        assert feed.books_resynced == 0
