// The feed's handling of order books against a scripted peer, for what the real server never
// does (a wrong checksum, a broken chain) and to see exactly what the client sends back: a
// book found wrong is announced (a `book_resync` gap), its patterns are unsubscribed and
// subscribed again (a wildcard included, with the positions of the other topics it covers),
// leftovers in flight are not taken, the fresh book goes on; a slow reader's book items are
// conflated into one whole book. Books against the real server: test/book.test.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, OrderBook } from "../index.js";
import { decode, encode } from "../msgpack.js";
import { readUntil, summary, within } from "./helpers.js";

/** A scripted server: `onRequest(msg, peer)` answers what the client sends. */
class ScriptedSocket {
  constructor(onRequest, sent) {
    this.binaryType = "";
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.onRequest = onRequest;
    this.sent = sent;
    setTimeout(() => {
      this.onopen?.({});
      this.deliver({ type: "welcome", protocol: 1, server: "script", epoch: 9, heartbeat_ms: 60000, max_message_bytes: 65536, max_subscriptions: 64, ts: 1 });
    }, 0);
  }
  deliver(msg) {
    this.onmessage?.({ data: encode(msg) });
  }
  send(bytes) {
    const msg = decode(bytes);
    this.sent.push(msg);
    setTimeout(() => this.onRequest(msg, this), 0);
  }
  close() {}
}

/** A server-side book: its state, and the `book` / `book_update` messages of its changes. */
class ServerBook {
  constructor(topic, seq) {
    this.book = new OrderBook({ topic, symbol: topic.slice(5), epoch: 9, seq, ts: 1n, tick_size: 0.01, depth: 5, bids: [[10, 100], [9.99, 200]], asks: [[10.01, 100], [10.02, 300]] });
  }
  message(extra = {}) {
    const b = this.book;
    return { type: "book", topic: b.topic, seq: b.seq, epoch: 9, ts: b.ts, symbol: b.symbol, tick_size: 0.01, depth: 5, bids: b.bids, asks: b.asks, checksum: b.checksum(), ...extra };
  }
  /** The next change (seq skips by `skip`): a bid size moves. */
  change(skip = 1) {
    const prev = this.book.seq;
    const bids = [[10, this.book.bids[0][1] + 1]];
    this.book.apply({ seq: prev + skip, bids });
    return { type: "book_update", topic: this.book.topic, seq: this.book.seq, prev_seq: prev, ts: 2n, symbol: this.book.symbol, bids, asks: [], checksum: this.book.checksum() };
  }
}

const ack = (m, subscriptions) => ({ type: "ack", id: m.id, op: m.type, topics: m.topics ?? [], subscriptions });

test("a wrong checksum: a book_resync gap, the wildcard resubscribed, a fresh book; other topics lose nothing", async (t) => {
  const x = new ServerBook("book.X", 10);
  const y = new ServerBook("book.Y", 20);
  const tick = { type: "tick", topic: "ticks.X", symbol: "X", price: 1, size: 1, bid: 1, ask: 1, volume: 1, ts: 5n };
  let subscribes = 0;
  const sent = [];
  const script = (m, peer) => {
    if (m.type === "subscribe") {
      subscribes++;
      peer.deliver(ack(m, m.topics));
      peer.deliver(x.message());
      peer.deliver(y.message());
      if (subscribes === 1) {
        peer.deliver({ ...tick, type: "snapshot", seq: 1, epoch: 9, open: 1, high: 1, low: 1, prev_close: 1 });
        peer.deliver(x.change(3));
        peer.deliver(y.change());
        const bad = x.change();
        peer.deliver({ ...bad, checksum: (bad.checksum + 1) >>> 0 }); // crafted: wrong
        peer.deliver(x.change()); // applies to a book the client no longer trusts: dropped
      } else {
        peer.deliver(x.change(2));
        peer.deliver({ ...tick, seq: 2 }); // replayed from the position handed over
        peer.deliver({ ...tick, seq: 3 });
      }
    } else if (m.type === "unsubscribe") {
      peer.deliver(y.change()); // in flight before the server took the unsubscribe: a leftover
      peer.deliver({ ...tick, seq: 2 }); // likewise: dropped, then replayed
      peer.deliver(ack(m, []));
    } else if (m.type === "resume") {
      peer.deliver(ack(m, []));
    }
  };
  const feed = await connect("ws://scripted/ws", { webSocketFactory: () => new ScriptedSocket(script, sent) });
  t.after(() => feed.close());
  const sub = feed.subscribe(">", { depth: 5 });
  const items = await readUntil(sub, 5000, "the fresh book of X and one update of it", (xs) =>
    xs.filter((i) => i.topic === "book.X" && i.type === "book").length === 2 && xs.some((i) => i.type === "tick" && i.seq === 3));
  const seen = items.map((i) => `${i.type} ${i.topic} ${i.seq ?? i.received}${i.cause ? ` ${i.cause}` : ""}`);
  assert.deepEqual(seen, [
    "book book.X 10",
    "book book.Y 20",
    "snapshot ticks.X 1",
    "book_update book.X 13",
    "book_update book.Y 21",
    "gap book.X 14 book_resync",
    "book book.X 15",
    "book book.Y 22",
    "book_update book.X 17",
    "tick ticks.X 2",
    "tick ticks.X 3",
  ], summary(items));
  const gap = items.find((i) => i.type === "gap");
  assert.deepEqual({ reason: gap.reason, prev_seq: gap.prev_seq, book_seq: gap.book_seq, announced: gap.announced }, { reason: "checksum", prev_seq: 13, book_seq: 13, announced: false });
  // what the client sent: subscribe, then unsubscribe ">", the position of ticks.X, subscribe ">" again (no rewind)
  const requests = sent.map((m) => `${m.type} ${JSON.stringify(m.topics ?? m.since)}${m.depth ? ` depth ${m.depth}` : ""}`);
  assert.deepEqual(requests, ['subscribe [">"] depth 5', 'unsubscribe [">"]', 'resume {"ticks.X":[9,1]}', 'subscribe [">"] depth 5'], requests.join("\n"));
  // every item's book verified; the feed's book is the server's
  for (const i of items.filter((i) => i.book)) assert.equal(i.book.checksum(), i.checksum);
  assert.deepEqual(feed.book("book.X").bids, x.book.bids);
  assert.equal(feed.book("book.X").seq, 17);
  assert.deepEqual(feed.book("book.Y").bids, y.book.bids);
  assert.equal(feed.stats.bookResyncs, 1);
  assert.deepEqual(Object.keys(feed.positions()), ["ticks.X"], "books have no position to resume");
});

test("a broken prev_seq chain on an exact topic: unsubscribe and subscribe that topic", async (t) => {
  const x = new ServerBook("book.X", 5);
  const sent = [];
  let subscribes = 0;
  const script = (m, peer) => {
    if (m.type === "subscribe") {
      peer.deliver(ack(m, m.topics));
      peer.deliver(x.message());
      if (++subscribes === 1) {
        x.change(); // an update the client never gets
        peer.deliver(x.change());
      }
    } else if (m.type === "unsubscribe") {
      peer.deliver(ack(m, []));
    }
  };
  const feed = await connect("ws://scripted/ws", { webSocketFactory: () => new ScriptedSocket(script, sent) });
  t.after(() => feed.close());
  const items = await readUntil(feed.subscribe("book.X"), 5000, "the fresh book", (xs) => xs.filter((i) => i.type === "book").length === 2);
  assert.deepEqual(items.map((i) => `${i.type} ${i.seq ?? i.received}${i.reason ? ` ${i.reason}` : ""}`), ["book 5", "gap 7 prev_seq", "book 7"]);
  assert.deepEqual(sent.map((m) => `${m.type} ${m.topics}`), ["subscribe book.X", "unsubscribe book.X", "subscribe book.X"]);
  assert.equal(feed.book("book.X").checksum(), x.book.checksum());
});

test("a slow reader's book items are conflated into one whole book (recovered: false) after a gap", async (t) => {
  const x = new ServerBook("book.X", 1);
  const script = (m, peer) => {
    if (m.type !== "subscribe") return;
    peer.deliver(ack(m, m.topics));
    peer.deliver(x.message());
    for (let i = 0; i < 30; i++) peer.deliver(x.change());
  };
  const feed = await connect("ws://scripted/ws", { maxBuffered: 10, webSocketFactory: () => new ScriptedSocket(script, []) });
  t.after(() => feed.close());
  const sub = feed.subscribe("book.X");
  await within(5000, "everything delivered", (async () => {
    while (feed.book("book.X")?.seq !== 31) await new Promise((r) => setTimeout(r, 10));
  })());
  assert.ok(sub.buffered <= 11, `conflated: ${sub.buffered} buffered`);
  const items = await readUntil(sub, 1000, "the newest book", (xs) => xs.some((i) => i.seq === 31));
  // Each time the buffer overflowed, the book items before the newest went: a gap, then a
  // whole book standing for the latest state, then the updates that came after it.
  const books = items.filter((i) => i.type === "book");
  assert.equal(books.length, 1, summary(items));
  const at = items.indexOf(books[0]);
  assert.deepEqual([books[0].recovered, items[at - 1].type, items[at - 1].cause], [false, "gap", "client_buffer"]);
  assert.equal(books[0].checksum, books[0].book.checksum());
  let seq = books[0].seq;
  for (const update of items.slice(at + 1)) {
    assert.equal(update.prev_seq, seq, "the updates after it chain on");
    assert.equal(update.book.checksum(), update.checksum);
    seq = update.seq;
  }
  const last = items.at(-1);
  assert.equal(last.seq, 31);
  assert.deepEqual(last.book.bids, x.book.bids);
});
