"""Order books without a server: PROTOCOL.md's checksum vectors, `OrderBook.apply` against a
reference of the server's views, the verdicts of `Books` (mismatch, broken chain, a fresh
book after a reconnect, lag, a new epoch), decoding, and the `depth` option."""

from __future__ import annotations

import random
import zlib

import pytest

import tickcast
from tickcast import Book, BookUpdate, Gap, Level, OrderBook
from tickcast.book import Accept, Books, Drop, Resync, checksum, checksum_text, is_book_topic
from tickcast.messages import DecodeError, decode

# PROTOCOL.md section 8, "The checksum": (bids, asks, tick_size, text, checksum).
_DEEP_BIDS = [
    (100.0, 100), (99.99, 101), (99.98, 102), (99.97, 103), (99.96, 104), (99.95, 105),
    (99.94, 106), (99.93, 107), (99.92, 108), (99.91, 109), (99.9, 110), (99.89, 111),
]
_DEEP_ASKS = [(round(100.01 + i * 0.01, 2), 7) for i in range(11)]
VECTORS: list[tuple[list[Level], list[Level], float, str, int]] = [
    (
        [(187.22, 300), (187.21, 500), (187.2, 1200)],
        [(187.24, 200), (187.25, 800)],
        0.01,
        "18724:200,18725:800|18722:300,18721:500,18720:1200",
        2671309628,
    ),
    ([], [], 0.01, "|", 2343686810),
    ([(0.5, 10)], [], 0.25, "|2:10", 1767546273),
    (
        _DEEP_BIDS,
        _DEEP_ASKS,
        0.01,
        "10001:7,10002:7,10003:7,10004:7,10005:7,10006:7,10007:7,10008:7,10009:7,10010:7"
        "|10000:100,9999:101,9998:102,9997:103,9996:104,9995:105,9994:106,9993:107,9992:108,"
        "9991:109",
        1349898925,
    ),
]


@pytest.mark.parametrize(("bids", "asks", "tick", "text", "crc"), VECTORS)
def test_protocol_checksum_vectors(
    bids: list[Level], asks: list[Level], tick: float, text: str, crc: int
) -> None:
    assert checksum_text(bids, asks, tick) == text
    assert checksum(bids, asks, tick) == crc == zlib.crc32(text.encode())
    book = OrderBook("book.X", "X", tick_size=tick, depth=50, bids=bids, asks=asks)
    assert book.checksum() == crc


def book_msg(**kw: object) -> Book:
    fields: dict[str, object] = dict(
        topic="book.X", seq=10, epoch=1, ts=5, symbol="X", tick_size=0.01, depth=5,
        bids=[(100.0, 1), (99.99, 2)], asks=[(100.01, 3)],
    )
    fields.update(kw)
    if "checksum" not in fields:
        fields["checksum"] = checksum(fields["bids"], fields["asks"], 0.01)  # type: ignore[arg-type]
    return Book(**fields)  # type: ignore[arg-type]


def update(book: OrderBook, seq: int, bids: list[Level], asks: list[Level], **kw: object) -> BookUpdate:
    """The update that takes `book` to the next state, with the right checksum unless given."""
    after = book.copy()
    msg = BookUpdate(book.topic, seq, book.seq, seq * 10, book.symbol, bids, asks, 0)
    after.apply(msg)
    fields: dict[str, object] = dict(
        topic=book.topic, seq=seq, prev_seq=book.seq, ts=seq * 10, symbol=book.symbol,
        bids=bids, asks=asks, checksum=after.checksum(),
    )
    fields.update(kw)
    return BookUpdate(**fields)  # type: ignore[arg-type]


def test_apply_adds_replaces_removes_and_keeps_the_depth() -> None:
    b = OrderBook("book.X", "X", tick_size=0.01, depth=3,
                  bids=[(100.0, 1), (99.98, 2)], asks=[(100.02, 5), (100.03, 6), (100.05, 7)])
    b.apply(BookUpdate("book.X", 12, 0, 7, "X", [(99.99, 4), (100.0, 9)], [(100.01, 1)], 0))
    assert b.bids == [(100.0, 9), (99.99, 4), (99.98, 2)]
    assert b.asks == [(100.01, 1), (100.02, 5), (100.03, 6)]  # 100.05 fell beyond depth 3
    assert (b.seq, b.ts) == (12, 7)
    # A removed best level; the one that enters from beyond comes with the update.
    b.apply(BookUpdate("book.X", 13, 12, 8, "X", [(100.0, 0)], [(100.01, 0), (100.05, 7)], 0))
    assert b.bids == [(99.99, 4), (99.98, 2)]
    assert b.asks == [(100.02, 5), (100.03, 6), (100.05, 7)]
    assert b.best_bid == (99.99, 4) and b.best_ask == (100.02, 5)
    # Prices are matched on the grid, not as floats.
    b.apply(BookUpdate("book.X", 14, 13, 9, "X", [(99.99 + 1e-9, 0)], [], 0))
    assert b.bids == [(99.98, 2)]
    assert OrderBook("book.X", "X", tick_size=0.01, depth=3).best_bid is None


def test_a_client_applying_every_update_keeps_the_servers_view() -> None:
    """A reference of the server's views (server/src/broker/book.rs): the whole book
    changes at random; each depth's view is its top levels, and an update is the diff."""
    rng = random.Random(7)
    tick = 0.05
    whole_bids: dict[int, int] = {2000 - i: rng.randint(1, 900) for i in range(60)}
    whole_asks: dict[int, int] = {2001 + i: rng.randint(1, 900) for i in range(60)}

    def top(depth: int) -> tuple[list[Level], list[Level]]:
        bids = [(round(t * tick, 2), s) for t, s in sorted(whole_bids.items(), reverse=True)]
        asks = [(round(t * tick, 2), s) for t, s in sorted(whole_asks.items())]
        return bids[:depth], asks[:depth]

    def diff(old: list[Level], new: list[Level]) -> list[Level]:
        was, now = dict(old), dict(new)
        changed = [(p, s) for p, s in new if was.get(p) != s]
        return changed + [(p, 0) for p in was if p not in now]

    for depth in (5, 10, 25, 50):
        bids, asks = top(depth)
        msg = Book("book.X", 1, 9, 0, "X", tick, depth, bids, asks, checksum(bids, asks, tick))
        books = Books()
        assert books.on_book(msg) == Accept()
        view, seq, updates = (bids, asks), 1, 0
        for change in range(2, 400):
            side = whole_bids if rng.random() < 0.5 else whole_asks
            best = max(whole_bids) if side is whole_bids else min(whole_asks)
            at = best + rng.randint(-12, 12) * (-1 if side is whole_bids else 1)
            if rng.random() < 0.4:
                side.pop(at, None)
            elif (side is whole_bids and at < min(whole_asks)) or (
                side is whole_asks and at > max(whole_bids)
            ):
                side[at] = rng.randint(1, 900)
            new = top(depth)
            db, da = diff(view[0], new[0]), diff(view[1], new[1])
            if not db and not da:
                continue  # beyond this depth: no update, seq skips
            up = BookUpdate("book.X", change, seq, change, "X", db, da,
                            checksum(new[0], new[1], tick))
            assert books.on_update(up) == Accept(), (depth, change)
            view, seq, updates = new, change, updates + 1
            mine = books.get("book.X")
            assert mine is not None and (mine.bids, mine.asks) == new
        assert updates > 50 and books.verified == updates + 1 and books.resyncs == 0


def test_a_checksum_mismatch_drops_until_a_fresh_book_with_a_gap() -> None:
    books = Books()
    assert books.on_book(book_msg()) == Accept()
    base = books.get("book.X")
    assert base is not None
    good = update(base.copy(), 12, [(100.0, 5)], [])
    assert books.on_update(good) == Accept()
    after = books.get("book.X")
    assert after is not None
    bad = update(after.copy(), 13, [(99.98, 1)], [], checksum=1234)
    assert books.on_update(bad) == Resync("checksum_mismatch")
    assert books.resyncing("book.X") and books.resyncs == 1
    # Updates in flight are dropped, whatever they say, until the fresh book.
    assert books.on_update(update(after.copy(), 14, [], [(100.02, 1)])) == Drop()
    fresh = books.on_book(book_msg(seq=20, bids=[(99.0, 1)], asks=[]))
    assert fresh == Accept(Gap("book.X", 1, None, 20, "checksum_mismatch"))
    assert not books.resyncing("book.X")
    mine = books.get("book.X")
    assert mine is not None and (mine.seq, mine.bids, mine.asks) == (20, [(99.0, 1)], [])


def test_a_broken_chain_resyncs() -> None:
    books = Books()
    books.on_book(book_msg(seq=10))
    base = books.get("book.X")
    assert base is not None
    skipped = update(base.copy(), 15, [(100.0, 9)], [], prev_seq=12)  # 12 never arrived
    assert books.on_update(skipped) == Resync("broken_chain")
    verdict = books.on_book(book_msg(seq=30))
    assert isinstance(verdict, Accept) and verdict.gap is not None
    assert verdict.gap.cause == "broken_chain" and verdict.gap.received == 30
    # An update for a topic with no book at all is a broken chain too.
    assert Books().on_update(skipped) == Resync("broken_chain")


def test_a_book_that_fails_its_own_checksum_is_not_taken() -> None:
    books = Books()
    assert books.on_book(book_msg(checksum=1)) == Resync("checksum_mismatch")
    assert books.get("book.X") is None and books.resyncing("book.X")
    verdict = books.on_book(book_msg())
    assert isinstance(verdict, Accept) and verdict.gap is not None
    assert verdict.gap.cause == "checksum_mismatch"


def test_a_fresh_book_after_a_reconnect_replaces_silently() -> None:
    books = Books()
    books.on_book(book_msg(seq=10))
    # Seqs skip and a book recovers by its state: the same epoch is no gap.
    assert books.on_book(book_msg(seq=90, bids=[(98.0, 1)])) == Accept()
    assert books.on_book(book_msg(seq=90)) == Accept()  # even the same seq again


def test_a_lagged_reader_gets_one_gap_then_the_recovered_false_book() -> None:
    books = Books()
    books.on_book(book_msg(seq=10))
    books.lagged(["book.X", "ticks.X"])
    verdict = books.on_book(book_msg(seq=40, recovered=False))
    assert verdict == Accept(Gap("book.X", 1, None, 40, "not_recovered", lagged=True))
    assert books.on_book(book_msg(seq=50, recovered=False)) == Accept(
        Gap("book.X", 1, None, 50, "not_recovered", lagged=False)
    )


def test_a_new_epoch_is_one_gap() -> None:
    books = Books()
    books.on_book(book_msg(seq=500, epoch=1))
    verdict = books.on_book(book_msg(seq=3, epoch=2))
    assert verdict == Accept(Gap("book.X", 2, None, 3, "new_epoch", previous_epoch=1))
    assert books.epoch_of("book.X") == 2


def test_forget_drops_books_nobody_follows() -> None:
    books = Books()
    books.on_book(book_msg(topic="book.A"))
    books.on_book(book_msg(topic="book.B"))
    books.on_update(update(OrderBook("book.B", "X", tick_size=0.01, depth=5), 3, [], []))
    books.forget(lambda t: t == "book.A")
    assert books.get("book.B") is None and not books.resyncing("book.B")
    assert books.get("book.A") is not None


def test_decode_book_messages_of_the_protocol() -> None:
    # The JSON examples of PROTOCOL.md section 7 (levels as [price, size] arrays).
    book = decode(
        {"type": "book", "topic": "book.AAPL", "seq": 812, "epoch": 1764072000123456,
         "ts": 1764072000123456789, "symbol": "AAPL", "tick_size": 0.01, "depth": 5,
         "bids": [[187.22, 300], [187.21, 500], [187.2, 1200]],
         "asks": [[187.24, 200], [187.25, 800]], "checksum": 2671309628, "later": 1}
    )
    assert isinstance(book, Book) and book.type == "book" and book.recovered is None
    assert book.bids == [(187.22, 300), (187.21, 500), (187.2, 1200)]
    ob = OrderBook.from_message(book)
    assert ob.checksum() == book.checksum and (ob.seq, ob.depth, ob.epoch) == (812, 5, book.epoch)
    upd = decode(
        {"type": "book_update", "topic": "book.AAPL", "seq": 815, "prev_seq": 812,
         "ts": 1764072000223456789, "symbol": "AAPL", "bids": [[187.22, 0], [187.19, 400]],
         "asks": [[187.23, 100]], "checksum": 922130848}
    )
    assert isinstance(upd, BookUpdate) and upd.asks == [(187.23, 100)] and upd.epoch == 0
    ob.apply(upd)
    assert ob.checksum() == upd.checksum == 922130848
    assert ob.bids == [(187.21, 500), (187.2, 1200), (187.19, 400)]
    assert ob.asks == [(187.23, 100), (187.24, 200), (187.25, 800)]
    with pytest.raises(DecodeError):
        decode({**{"type": "book_update", "topic": "t", "seq": 1, "prev_seq": 0, "ts": 0,
                   "symbol": "X", "asks": [], "checksum": 0}, "bids": [[1.0]]})


def test_book_topics() -> None:
    assert is_book_topic("book.AAPL") and is_book_topic("book.BRK-B")
    assert not is_book_topic("book") and not is_book_topic("ticks.AAPL")
    assert not is_book_topic("book.A.x") and not is_book_topic("book.")


@pytest.mark.parametrize("depth", [0, 7, 100, True, "10"])
def test_depth_must_be_one_the_server_serves(depth: object) -> None:
    feed = tickcast.connect("ws://127.0.0.1:1/ws")  # never connected
    with pytest.raises(ValueError, match="depth"):
        feed.subscribe("book.*", depth=depth)  # type: ignore[arg-type]
    for ok in (5, 10, 25, 50):
        assert feed.subscribe("book.*", depth=ok)._options == {"depth": ok}
