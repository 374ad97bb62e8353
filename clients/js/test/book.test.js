// Order books against the real tickcast-server (its simulator publishes book.SYM for every
// symbol): a subscriber's book, kept from updates, equals a fresh subscriber's book at the
// same seq, with every checksum verified and no gap though seqs skip; depths 5 and 25 (and a
// refused 7); a crafted checksum mismatch under `>` is announced, resynced with a fresh book
// while the trades and bars of the same pattern go on with no gap; a slow reader gets
// `lagged`, then a fresh book (`recovered: false`) that the updates chain on from.
// What the real server never does (a broken chain, conflation of book items): test/book-script.test.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, TickcastError } from "../index.js";
import { decode, encode } from "../msgpack.js";
import { startServer, readUntil, checkStream, blockThread, spyingFactory, summary, within } from "./helpers.js";

const isBook = (x) => x.type === "book" || x.type === "book_update";
const updates = (xs, topic = undefined) => xs.filter((x) => x.type === "book_update" && (topic === undefined || x.topic === topic)).length;

/**
 * The promise of a book stream: every book item's `book` has the server's checksum, updates
 * chain by prev_seq from the topic's last book item, a `book` starts over. Returns problems.
 */
function checkBooks(items) {
  const problems = [];
  const last = new Map(); // topic -> seq of its last book item
  for (const x of items.filter(isBook)) {
    if (x.book.checksum() !== x.checksum) problems.push(`${x.topic} ${x.type} ${x.seq}: checksum ${x.book.checksum()} != ${x.checksum}`);
    if (x.book.seq !== x.seq) problems.push(`${x.topic} ${x.type} ${x.seq}: book at seq ${x.book.seq}`);
    if (x.type === "book_update") {
      if (last.get(x.topic) !== x.prev_seq) problems.push(`${x.topic} update ${x.seq}: prev_seq ${x.prev_seq} after ${last.get(x.topic)}`);
      if (x.book.bids.length > x.book.depth || x.book.asks.length > x.book.depth) problems.push(`${x.topic} ${x.seq}: deeper than ${x.book.depth}`);
    }
    last.set(x.topic, x.seq);
  }
  return problems;
}

/** The book topics of the server, once there are `n` of them. */
async function bookTopics(feed, n) {
  return within(15_000, `${n} book topics`, (async () => {
    for (;;) {
      const topics = await feed.list("book.*");
      if (topics.length >= n) return topics;
      await new Promise((r) => setTimeout(r, 100));
    }
  })());
}

test("a subscriber's book equals a fresh subscriber's at the same seq; every update verified, seqs skip without a gap", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const topics = await bookTopics(feed, 5);
  const sub = feed.subscribe("book.*", { depth: 5 });
  const held = new Map(); // topic -> Map(seq -> OrderBook)
  const keep = (x) => {
    if (!isBook(x)) return;
    if (!held.has(x.topic)) held.set(x.topic, new Map());
    held.get(x.topic).set(x.seq, x.book);
  };
  const items = await readUntil(sub, 20_000, "a book and 20 updates of every topic", (xs) => topics.every((tp) => updates(xs, tp) >= 20), { onItem: keep });
  assert.deepEqual(checkBooks(items), []);
  assert.equal(items.filter((x) => x.type === "gap").length, 0, summary(items));
  for (const tp of topics) assert.equal(items.find((x) => x.topic === tp).type, "book", `${tp} starts with its book`);
  // At depth 5 changes deeper than 5 levels make no update: seqs skip, prev_seq does not.
  assert.ok(items.some((x) => x.type === "book_update" && x.seq > x.prev_seq + 1), "some seq skipped");
  assert.ok(items.filter((x) => x.type === "book").every((b) => b.depth === 5 && b.book.depth === 5));

  // A fresh subscriber's book, at whatever seq it comes, equals the one kept from updates.
  const fresh = await connect(server.url);
  t.after(() => fresh.close());
  const first = await readUntil(fresh.subscribe("book.*", { depth: 5 }), 10_000, "every topic's book", (xs) => topics.every((tp) => xs.some((x) => x.topic === tp)));
  for (const book of first.filter((x) => x.type === "book")) {
    // (items read so far: feed.book() may be ahead of them, with items still buffered)
    await readUntil(sub, 10_000, `${book.topic} up to seq ${book.seq}`, (xs) => xs.some((x) => isBook(x) && x.topic === book.topic && x.seq >= book.seq), { items, onItem: keep });
    const mine = held.get(book.topic).get(book.seq);
    assert.ok(mine, `the first subscriber had ${book.topic} at seq ${book.seq}`);
    assert.deepEqual([mine.bids, mine.asks], [book.book.bids, book.book.asks], `${book.topic} at seq ${book.seq}`);
    assert.equal(mine.checksum(), book.checksum);
  }
  assert.deepEqual(checkBooks(items), []);
  assert.equal(feed.stats.bookResyncs, 0);
  assert.equal(feed.stats.duplicates, 0);
  assert.deepEqual(Object.keys(feed.positions()), [], "books have no position");
});

test("depth 5 and 25: books to the depth asked for, the same top levels at the same seq; depth 7 refused", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const [five, deep] = await Promise.all([connect(server.url), connect(server.url)]);
  t.after(() => five.close());
  t.after(() => deep.close());
  const [topic] = await bookTopics(five, 1);
  const at25 = new Map();
  const deepSub = deep.subscribe(topic, { depth: 25 });
  const deepItems = await readUntil(deepSub, 10_000, "the depth-25 book", (xs) => xs.some((x) => x.type === "book"), { onItem: (x) => isBook(x) && at25.set(x.seq, x.book) });
  const fiveItems = await readUntil(five.subscribe(topic, { depth: 5 }), 15_000, "30 updates at depth 5", (xs) => updates(xs) >= 30);
  const lastFive = fiveItems.filter(isBook).at(-1).seq;
  await readUntil(deepSub, 10_000, "depth 25 past depth 5", (xs) => xs.some((x) => isBook(x) && x.seq >= lastFive), { items: deepItems, onItem: (x) => isBook(x) && at25.set(x.seq, x.book) });
  assert.deepEqual(checkBooks(fiveItems), []);
  assert.deepEqual(checkBooks(deepItems), []);
  assert.ok(fiveItems.filter(isBook).every((x) => x.book.bids.length <= 5 && x.book.asks.length <= 5));
  const deepest = Math.max(...deepItems.filter(isBook).map((x) => Math.max(x.book.bids.length, x.book.asks.length)));
  assert.ok(deepest > 10 && deepest <= 25, `the depth-25 book is deeper than 10 levels: ${deepest}`);
  assert.equal(deepItems.find((x) => x.type === "book").depth, 25);
  // Every change within 5 levels is within 25: the deep subscriber had each seq, and its top 5 agree.
  for (const x of fiveItems.filter(isBook)) {
    const big = at25.get(x.seq);
    if (!big) continue; // before the deep subscriber's first book
    assert.deepEqual([big.bids.slice(0, 5), big.asks.slice(0, 5)], [x.book.bids, x.book.asks], `top 5 at seq ${x.seq}`);
  }
  assert.ok(fiveItems.filter(isBook).some((x) => at25.has(x.seq)), "the two streams met");
  const refused = five.subscribe(topic, { depth: 7 });
  await assert.rejects(refused.ready, (e) => e instanceof TickcastError && e.code === "bad_request");
});

test("a crafted checksum mismatch under `>`: a book_resync gap, a fresh book, and trades and bars lose nothing", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const sent = [];
  let seen = 0;
  let crafted = null;
  // The codec spoils the 30th book_update it decodes (as a bit flip on the way would).
  const codec = {
    encode,
    decode(bytes) {
      const msg = decode(bytes);
      if (msg?.type === "book_update" && ++seen === 30) {
        msg.checksum = (msg.checksum ^ 1) >>> 0;
        crafted = msg;
      }
      return msg;
    },
  };
  const feed = await connect(server.url, { codec, webSocketFactory: spyingFactory(sent, decode) });
  t.after(() => feed.close());
  await bookTopics(feed, 5);
  const sub = feed.subscribe(">", { depth: 5 });
  const items = await readUntil(sub, 20_000, "the resync and 20 more updates of its topic", (xs) => {
    const at = xs.findIndex((x) => x.type === "gap");
    return at >= 0 && updates(xs.slice(at), xs[at].topic) >= 20;
  });
  const gaps = items.filter((x) => x.type === "gap");
  assert.equal(gaps.length, 1, summary(gaps));
  const [gap] = gaps;
  assert.deepEqual({ topic: gap.topic, cause: gap.cause, reason: gap.reason, received: gap.received, announced: gap.announced },
    { topic: crafted.topic, cause: "book_resync", reason: "checksum", received: crafted.seq, announced: false });
  assert.ok(!items.some((x) => x === crafted), "the spoilt update was not delivered");
  // Then: unsubscribe ">", the positions of the trades and bars it covers, subscribe ">" again.
  const after = sent.slice(sent.findIndex((m) => m.type === "unsubscribe"));
  assert.deepEqual(after.map((m) => m.type).filter((tp) => tp !== "ping"), ["unsubscribe", "resume", "subscribe"]);
  assert.deepEqual(after[0].topics, [">"]);
  assert.ok(Object.keys(after[1].since).some((tp) => tp.startsWith("ticks.")), JSON.stringify(after[1]));
  assert.ok(!Object.keys(after[1].since).some((tp) => tp.startsWith("book.")), "no position for books");
  assert.equal(after[2].rewind, undefined);
  assert.equal(after[2].depth, 5);
  // The topic's next item is its fresh book; the rest chains on, verified.
  const next = items.slice(items.indexOf(gap) + 1).find((x) => x.topic === gap.topic);
  assert.equal(next.type, "book");
  assert.ok(next.seq >= crafted.seq);
  assert.deepEqual(checkBooks(items), []);
  assert.deepEqual(checkStream(items), [], "trades and bars: no hole, no duplicate, no gap item");
  assert.equal(feed.stats.bookResyncs, 1);
  assert.equal(feed.stats.duplicates, 0);
});

test("a slow reader past its bound (--queue-bytes 2048, depth 50): lagged, a fresh book with recovered: false, updates chain on from it", async (t) => {
  // 2 KiB: a depth-50 book's updates merged over a stall outgrow it, so a fresh book follows.
  const server = await startServer(["--queue-bytes", "2048", "--socket-send-buffer", "4096", "--rate", "5000"]);
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  await bookTopics(feed, 5);
  let blocked = 0;
  const items = await readUntil(
    feed.subscribe(["book.*", "ticks.*"], { depth: 50 }),
    40_000,
    "a book with recovered: false after a lagged, then updates",
    (xs) => {
      const at = xs.findIndex((x) => x.type === "book" && x.recovered === false);
      return at >= 0 && updates(xs.slice(at), xs[at].topic) >= 5;
    },
    {
      onItem(item, xs) {
        // Busy elsewhere, the whole thread: nothing reads the socket for a while.
        if (item.type === "book_update" && updates(xs) % 300 === 150 && blocked < 4) {
          blocked++;
          blockThread(1500);
        }
      },
    },
  );
  const at = items.findIndex((x) => x.type === "book" && x.recovered === false);
  const lost = items[at];
  assert.ok(items.slice(0, at).some((x) => x.type === "lagged" && x.topics.includes(lost.topic)), summary(items.slice(0, at)));
  const gap = items[at - 1];
  assert.deepEqual([gap.type, gap.topic, gap.cause, gap.lagged, gap.announced], ["gap", lost.topic, "not_recovered", true, true]);
  assert.deepEqual(checkBooks(items), []);
  assert.ok(items.filter((x) => x.type === "gap").every((g) => g.announced), summary(items.filter((x) => x.type === "gap")));
  assert.equal(feed.stats.bookResyncs, 0, "the server never sends a wrong book");
});
