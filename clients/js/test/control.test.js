// Steering a feed while it runs: a subscription's new patterns (setPatterns), the server's
// view of them (feed.subscriptions), a reconnect on request (reconnect), and the feed's
// counters (stats). Against the real tickcast-server, and one scripted peer for what the real
// server never sends (undecodable frames, duplicates).
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, TickcastError } from "../index.js";
import { decode, encode } from "../msgpack.js";
import { startServer, startProxy, readUntil, checkStream, within, summary } from "./helpers.js";

const ticks = (xs, topic = undefined) => xs.filter((x) => x.type === "tick" && (topic === undefined || x.topic === topic)).length;

/** Waits until `cond()` holds (polling), or fails with `what` after `ms`. */
async function until(ms, what, cond) {
  await within(ms, what, (async () => {
    while (!cond()) await new Promise((r) => setTimeout(r, 20));
  })());
}

test("setPatterns narrows and widens a stream: no gap, no duplicate, old patterns unsubscribed", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  const items = await readUntil(sub, 10_000, "5 snapshots and 20 ticks", (xs) =>
    xs.filter((x) => x.type === "snapshot").length >= 5 && ticks(xs) >= 20);
  const topics = [...new Set(items.map((x) => x.topic))].sort();
  const [one] = topics;

  const ack = await within(5000, "the ack of the narrower pattern", sub.setPatterns(one));
  assert.equal(ack.type, "ack");
  assert.deepEqual(sub.patterns, [one]);
  // What was buffered before the ack may be of any topic; nothing after it.
  const before = items.length + sub.buffered;
  await readUntil(sub, 10_000, `10 more ticks of ${one}`, (xs) => ticks(xs.slice(before), one) >= 10, { items });
  assert.deepEqual(items.slice(before).filter((x) => x.topic !== one).map((x) => x.topic), []);
  await until(5000, `the server has only ${one}`, () => JSON.stringify(feed.subscriptions) === JSON.stringify([one]));
  assert.deepEqual(Object.keys(feed.positions()), [one], "topics nobody follows are forgotten");

  await within(5000, "the ack of ticks.*", sub.setPatterns(["ticks.*"]));
  await until(5000, "the server has only ticks.*", () => JSON.stringify(feed.subscriptions) === '["ticks.*"]');
  const widened = items.length + sub.buffered;
  const more = await readUntil(sub, 10_000, "every topic again", (xs) => topics.every((tp) => ticks(xs, tp) >= 2));
  // The topic followed all along goes on; the others start afresh with their snapshot.
  for (const tp of topics.slice(1)) assert.equal(more.find((x) => x.topic === tp).type, "snapshot", summary(more));
  assert.ok(!more.some((x) => x.topic === one && x.type === "snapshot"), `no second snapshot of ${one}`);
  assert.deepEqual(checkStream([...items.slice(0, widened).filter((x) => x.topic === one), ...more.filter((x) => x.topic === one)]), []);
  assert.deepEqual(checkStream(more), []);
  assert.equal([...items, ...more].filter((x) => x.type === "gap").length, 0);
  assert.equal(feed.stats.duplicates, 0);
});

test("a refused setPatterns changes nothing: the stream goes on with its patterns", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  await within(5000, "ack", sub.ready);
  await assert.rejects(within(5000, "the refusal", sub.setPatterns("ticks..AAPL")),
    (e) => e instanceof TickcastError && e.kind === "server" && e.code === "bad_topic");
  assert.deepEqual(sub.patterns, ["ticks.*"]);
  assert.deepEqual(feed.subscriptions, ["ticks.*"]);
  assert.ok(!sub.ended);
  const items = await readUntil(sub, 10_000, "ticks of several topics", (xs) => new Set(xs.map((x) => x.topic)).size >= 3 && ticks(xs) >= 10);
  assert.deepEqual(checkStream(items), []);
  // A later change is not held up by the refused one.
  await within(5000, "a valid change", sub.setPatterns(["ticks.*", "bars.1s.*"]));
  assert.deepEqual([...feed.subscriptions].sort(), ["bars.1s.*", "ticks.*"]);
});

test("setPatterns without a connection: the next connection subscribes the new patterns", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const feed = await connect(proxy.url);
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  const items = await readUntil(sub, 10_000, "5 snapshots", (xs) => xs.filter((x) => x.type === "snapshot").length >= 5);
  const one = [...new Set(items.map((x) => x.topic))].sort()[0];
  proxy.cut();
  await until(5000, "the feed noticed", () => feed.state !== "open");
  assert.deepEqual(feed.subscriptions, []);
  const changed = sub.setPatterns(one);
  assert.deepEqual(sub.patterns, [one], "replaced at once");
  await within(15_000, "the ack on the next connection", changed);
  assert.equal(feed.connections, 2);
  assert.deepEqual(feed.subscriptions, [one]);
  const before = items.length + sub.buffered;
  await readUntil(sub, 10_000, `ticks of ${one}`, (xs) => ticks(xs.slice(before), one) >= 5, { items });
  assert.deepEqual(items.slice(before).filter((x) => x.topic !== one).map((x) => x.topic), []);
  assert.deepEqual(checkStream(items), []);
});

test("reconnect(): a new connection at once, every topic resumed (no gap, no snapshot)", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const states = [];
  const feed = await connect(server.url, { onState: (s, d) => states.push([s, d]) });
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  const items = await readUntil(sub, 10_000, "5 snapshots and 20 ticks", (xs) =>
    xs.filter((x) => x.type === "snapshot").length >= 5 && ticks(xs) >= 20);
  feed.reconnect();
  assert.equal(feed.state, "reconnecting");
  assert.equal(states.at(-1)[1].delayMs, 0);
  const n = ticks(items);
  await readUntil(sub, 10_000, "30 ticks on the second connection", (xs) => feed.connections === 2 && ticks(xs) >= n + 30, { items });
  assert.equal(feed.state, "open");
  assert.deepEqual(checkStream(items), []);
  assert.equal(items.filter((x) => x.type === "gap").length, 0, summary(items));
  assert.equal(items.filter((x) => x.type === "snapshot").length, 5, "replays, no snapshot");
  assert.ok(feed.stats.frames >= items.length);
  assert.equal(feed.stats.undecodable, 0);
  assert.equal(feed.stats.duplicates, 0);
});

test("stats: undecodable frames and duplicates are counted (and dropped)", async (t) => {
  // A scripted peer: welcome; on subscribe: ack, a snapshot, tick 6, tick 6 again, garbage, tick 7.
  class ScriptedSocket {
    constructor() {
      this.binaryType = "";
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      setTimeout(() => {
        this.onopen?.({});
        this.#deliver({ type: "welcome", protocol: 1, server: "script", epoch: 9, heartbeat_ms: 60000, max_message_bytes: 65536, max_subscriptions: 64, ts: 1 });
      }, 0);
    }
    #deliver(msg) {
      this.onmessage?.({ data: msg instanceof Uint8Array ? msg : encode(msg) });
    }
    send(bytes) {
      const m = decode(bytes);
      if (m.type !== "subscribe") return;
      const trade = { topic: "ticks.X", symbol: "X", price: 1, size: 1, bid: 1, ask: 1, volume: 1, ts: 5 };
      setTimeout(() => {
        this.#deliver({ type: "ack", id: m.id, op: "subscribe", topics: m.topics, subscriptions: m.topics });
        this.#deliver({ type: "snapshot", ...trade, epoch: 9, seq: 5, open: 1, high: 1, low: 1, prev_close: 1 });
        this.#deliver({ type: "tick", ...trade, seq: 6 });
        this.#deliver({ type: "tick", ...trade, seq: 6 });
        this.#deliver(new Uint8Array([0xc1]));
        this.#deliver({ type: "tick", ...trade, seq: 7 });
      }, 0);
    }
    close() {}
  }
  const feed = await connect("ws://scripted/ws", { webSocketFactory: () => new ScriptedSocket() });
  t.after(() => feed.close());
  const items = await readUntil(feed.subscribe("ticks.*"), 5000, "tick 7", (xs) => xs.some((x) => x.seq === 7));
  assert.deepEqual(items.map((x) => `${x.type} ${x.seq}`), ["snapshot 5", "tick 6", "tick 7"]);
  assert.deepEqual({ ...feed.stats }, { frames: 7, undecodable: 1, duplicates: 1, bookResyncs: 0 });
  assert.deepEqual(feed.subscriptions, ["ticks.*"]);
});
