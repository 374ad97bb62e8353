// Units of the order-book code, no server: crc32.js and OrderBook.checksum() against the
// test vectors of proto/PROTOCOL.md §8 (read from the document itself) and its `book` /
// `book_update` examples; OrderBook.apply (sides best first, size 0 removes, depth kept,
// prices compared on the grid); and the verdicts of books.js (a skipped seq is no gap; a
// broken prev_seq chain or a checksum mismatch is a `book_resync` gap, updates dropped until
// a fresh book, resyncs spaced out while they keep failing; new epoch, recovered: false).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { OrderBook, crc32, DEPTHS, CHECKSUM_LEVELS } from "../index.js";
import { Books } from "../books.js";

const PROTOCOL = readFileSync(new URL("../../../proto/PROTOCOL.md", import.meta.url), "utf8");

/** The checksum test vectors: the rows of PROTOCOL.md's table under "The checksum". */
function vectors() {
  const start = PROTOCOL.indexOf("**The checksum**");
  const section = PROTOCOL.slice(start, PROTOCOL.indexOf("In Python:", start));
  const rows = section.split("\n").filter((l) => l.startsWith("| `"));
  return rows.map((row) => {
    // Cells are split on " | "; an escaped \| inside the checksum string is not a separator.
    const cells = row.slice(2, -2).split(" | ").map((c) => c.trim().replace(/^`|`$/g, ""));
    const [bids, asks, tick, text, sum] = cells;
    return { bids: JSON.parse(bids), asks: JSON.parse(asks), tick_size: Number(tick), text: text.replaceAll("\\|", "|"), checksum: Number(sum) };
  });
}

test("crc32 and OrderBook.checksum() give PROTOCOL.md's test vectors", () => {
  const all = vectors();
  assert.equal(all.length, 4, "four vectors in PROTOCOL.md");
  for (const v of all) {
    assert.equal(crc32(v.text), v.checksum, v.text);
    const book = new OrderBook({ tick_size: v.tick_size, depth: 50, bids: v.bids, asks: v.asks });
    assert.equal(book.checksumText(), v.text);
    assert.equal(book.checksum(), v.checksum);
  }
  assert.equal(crc32(""), 0);
  assert.equal(crc32("123456789"), 0xcbf43926, "the CRC-32 check value");
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.deepEqual([...DEPTHS], [5, 10, 25, 50]);
  assert.equal(CHECKSUM_LEVELS, 10);
});

/** The JSON of a section 7 example that starts with `{"type": "<type>"`. */
function example(type) {
  const start = PROTOCOL.indexOf(`{"type": "${type}"`);
  const end = PROTOCOL.indexOf("\n```", start);
  return JSON.parse(PROTOCOL.slice(start, end));
}

test("the book and book_update examples of PROTOCOL.md §7 verify", () => {
  const msg = example("book");
  const book = OrderBook.from(msg);
  assert.equal(book.checksum(), msg.checksum);
  assert.equal(book.seq, 812);
  assert.equal(book.depth, 5);
  assert.equal(book.tickSize, 0.01);
  assert.deepEqual(book.bestBid, [187.22, 300]);
  assert.deepEqual(book.bestAsk, [187.24, 200]);
  assert.equal(book.spread, 0.02);
  assert.equal(book.spreadTicks, 2);
  assert.equal(book.mid, 187.23);
  const update = example("book_update");
  assert.equal(update.prev_seq, book.seq);
  const after = book.clone().apply(update);
  assert.equal(after.checksum(), update.checksum);
  assert.equal(after.seq, 815);
  assert.deepEqual(after.bids, [[187.21, 500], [187.2, 1200], [187.19, 400]]);
  assert.deepEqual(after.asks, [[187.23, 100], [187.24, 200], [187.25, 800]]);
  // the copy taken before is untouched
  assert.equal(book.checksum(), msg.checksum);
  assert.equal(book.seq, 812);
});

test("OrderBook.apply: best first, size 0 removes, replaces, keeps depth, compares on the grid", () => {
  const levels = (from, step, n) => Array.from({ length: n }, (_, i) => [Math.round((from + i * step) * 100) / 100, 100 + i]);
  const book = new OrderBook({ topic: "book.X", tick_size: 0.01, depth: 5, seq: 1, epoch: 7, ts: 1n, bids: levels(100, -0.01, 8), asks: levels(100.01, 0.01, 8) });
  assert.equal(book.bids.length, 5, "a book keeps its depth");
  assert.deepEqual(book.bids.map(([p]) => p), [100, 99.99, 99.98, 99.97, 99.96]);
  book.apply({ seq: 4, bids: [[100, 0], [99.95, 7]], asks: [[100.005 + 0.005, 0]] });
  assert.equal(book.seq, 4);
  assert.deepEqual(book.bids, [[99.99, 101], [99.98, 102], [99.97, 103], [99.96, 104], [99.95, 7]]);
  assert.deepEqual(book.asks.map(([p]) => p), [100.02, 100.03, 100.04, 100.05], "100.01 removed (a price a hair off the grid is the same level)");
  book.apply({ seq: 5, bids: [[100.5, 1], [99.98, 9]], asks: [[100.015 - 0.005, 3], [99.0, 0]] });
  assert.deepEqual(book.bids, [[100.5, 1], [99.99, 101], [99.98, 9], [99.97, 103], [99.96, 104]], "a better bid pushes the worst one out");
  assert.deepEqual(book.asks, [[100.01, 3], [100.02, 101], [100.03, 102], [100.04, 103], [100.05, 104]], "removing a level not held changes nothing");
  assert.ok(Object.isFrozen(book.bids) && Object.isFrozen(book.bids[0]), "sides are never changed in place");
  const copy = book.clone();
  book.apply({ seq: 6, bids: [[100.5, 0]], asks: [] });
  assert.equal(copy.bids.length, 5);
  assert.deepEqual(copy.bids[0], [100.5, 1]);
  assert.equal(copy.seq, 5);
  const empty = new OrderBook({ tick_size: 0.25, depth: 10 });
  assert.equal(empty.spread, undefined);
  assert.equal(empty.checksumText(), "|");
});

// A book message of `topic` whose checksum is right.
function bookMsg(topic, seq, bids, asks, extra = {}) {
  const book = new OrderBook({ tick_size: 0.01, depth: 5, bids, asks });
  return { type: "book", topic, seq, epoch: 9, ts: 1n, symbol: topic.slice(5), tick_size: 0.01, depth: 5, bids, asks, checksum: book.checksum(), ...extra };
}

// The update from `book` (an OrderBook) with `bids`/`asks` changes, its checksum right.
function updateMsg(book, seq, bids, asks, extra = {}) {
  const after = book.clone().apply({ bids, asks });
  return { type: "book_update", topic: book.topic ?? "book.X", seq, prev_seq: book.seq, ts: 2n, symbol: "X", bids, asks, checksum: after.checksum(), ...extra };
}

test("books.js: updates chain by prev_seq (seq may skip), every checksum verified", () => {
  const books = new Books();
  const first = books.accept(bookMsg("book.X", 10, [[10, 1]], [[10.01, 1]]), false);
  assert.deepEqual([first.gap, first.deliver, first.resync], [null, true, null]);
  let held = books.book("book.X");
  assert.equal(held.seq, 10);
  const u = updateMsg(held, 14, [[10, 2]], []); // seq skips 11..13: no gap
  const v = books.accept(u, false);
  assert.deepEqual([v.gap, v.deliver, v.resync], [null, true, null]);
  assert.equal(u.epoch, 9, "an update gets its book's epoch");
  assert.equal(u.book.seq, 14);
  assert.deepEqual(u.book.bids, [[10, 2]]);
  held = books.book("book.X");
  const again = books.accept({ ...u, book: undefined }, false);
  assert.deepEqual([again.deliver, again.duplicate], [false, true], "an update the book has is a duplicate");
  const w = books.accept(updateMsg(held, 20, [], [[10.02, 5]]), false);
  assert.equal(w.deliver, true);
  assert.deepEqual(books.book("book.X").asks, [[10.01, 1], [10.02, 5]]);
  // item books are copies: changing one changes nothing held
  u.book.apply({ bids: [[10, 0]] });
  assert.deepEqual(books.book("book.X").bids, [[10, 2]]);
});

test("books.js: a broken chain or a wrong checksum is a book_resync gap; updates wait for a fresh book", () => {
  const books = new Books();
  books.accept(bookMsg("book.X", 10, [[10, 1]], [[10.01, 1]]), false);
  const held = books.book("book.X");
  const broken = books.accept({ ...updateMsg(held, 15, [[10, 3]], []), prev_seq: 12 }, false);
  assert.equal(broken.deliver, false);
  assert.equal(broken.resync, 0, "the first resync at once");
  assert.deepEqual(
    { cause: broken.gap.cause, reason: broken.gap.reason, received: broken.gap.received, prev_seq: broken.gap.prev_seq, book_seq: broken.gap.book_seq, announced: broken.gap.announced },
    { cause: "book_resync", reason: "prev_seq", received: 15, prev_seq: 12, book_seq: 10, announced: false },
  );
  // until the fresh book, updates are dropped (they would be applied to a wrong book)
  const waiting = books.accept(updateMsg(held, 16, [[10, 4]], []), false);
  assert.deepEqual([waiting.gap, waiting.deliver, waiting.resync], [null, false, null]);
  const fresh = books.accept(bookMsg("book.X", 30, [[10, 4]], [[10.01, 1]]), false);
  assert.deepEqual([fresh.gap, fresh.deliver], [null, true], "the fresh book: no second gap");
  const bad = books.accept({ ...updateMsg(books.book("book.X"), 31, [[10, 5]], []), checksum: 1 }, true);
  assert.deepEqual([bad.gap.cause, bad.gap.reason, bad.gap.lagged, bad.deliver], ["book_resync", "checksum", true, false]);
  assert.equal(bad.resync, 500, "a second failure in a row waits");
  books.accept(bookMsg("book.X", 40, [[10, 4]], [[10.01, 1]]), false);
  assert.equal(books.accept({ ...updateMsg(books.book("book.X"), 41, [[10, 5]], []), checksum: 1 }, false).resync, 1000);
  const wrongBook = books.accept({ ...bookMsg("book.X", 50, [[10, 4]], []), checksum: 2 }, false);
  assert.deepEqual([wrongBook.gap.reason, wrongBook.deliver, wrongBook.resync], ["checksum", false, 2000]);
  // a book that verifies, then an update that does: the delays start over
  books.accept(bookMsg("book.X", 60, [[10, 4]], []), false);
  assert.equal(books.accept(updateMsg(books.book("book.X"), 61, [[10, 6]], []), false).deliver, true);
  assert.equal(books.accept({ ...updateMsg(books.book("book.X"), 62, [[10, 7]], []), prev_seq: 1 }, false).resync, 0);
});

test("books.js: a new epoch and recovered: false are announced gaps; forget() drops books", () => {
  const books = new Books();
  books.accept(bookMsg("book.X", 10, [[10, 1]], []), false);
  const same = books.accept(bookMsg("book.X", 12, [[10, 2]], []), false);
  assert.equal(same.gap, null, "a fresh book of the same epoch (a reconnect, a resync): no gap");
  const epoch = books.accept(bookMsg("book.X", 3, [[10, 2]], [], { epoch: 11 }), false);
  assert.deepEqual([epoch.gap.cause, epoch.gap.previous_epoch, epoch.gap.epoch, epoch.gap.announced], ["new_epoch", 9, 11, true]);
  const lost = books.accept(bookMsg("book.X", 9, [[10, 2]], [], { epoch: 11, recovered: false }), true);
  assert.deepEqual([lost.gap.cause, lost.gap.recovered, lost.gap.lagged, lost.deliver], ["not_recovered", false, true, true]);
  books.accept(bookMsg("book.Y", 1, [], []), false);
  assert.deepEqual(books.topics().sort(), ["book.X", "book.Y"]);
  books.forget((t) => t === "book.Y");
  assert.deepEqual(books.topics(), ["book.Y"]);
  assert.equal(books.book("book.X"), undefined);
});
