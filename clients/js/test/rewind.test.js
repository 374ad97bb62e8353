// `rewind`: a topic's latest messages, then live ones, with no seam; fewer when fewer are
// held; with `since` after a server restart; never again on a reconnect; and a topic
// subscribed again right after it was unsubscribed. Against the real tickcast-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../index.js";
import { decode } from "../msgpack.js";
import { startServer, startProxy, readUntil, checkStream, spyingFactory, summary, within } from "./helpers.js";

const TOPIC = "fx.EURUSD";

/** A server without a simulator keeping `history` messages a topic, and a publisher feed. */
async function publishing(t, history) {
  const server = await startServer(["--no-simulator", "--publish-token", "pub", "--history", String(history)]);
  t.after(() => server.stop());
  const publisher = await connect(server.url, { token: "pub" });
  t.after(() => publisher.close());
  const publish = async (from, to) => {
    for (let i = from; i <= to; i++) await publisher.publish(TOPIC, 1 + i / 10_000, i);
  };
  return { server, publish };
}

/** The subscribes a spied feed sent: [patterns, rewind] each. */
const subscribes = (sent) => sent.filter((m) => m.type === "subscribe").map((m) => [m.topics, m.rewind]);

/** Items of `topic`, by type and seq: "snapshot 91", "tick 92", ... */
const trail = (items, topic) => items.filter((x) => x.topic === topic).map((x) => `${x.type} ${x.seq ?? x.cause}`);

test("rewind N: a snapshot standing for the oldest of the last N trades, ticks to the latest, then live; reconnects resume without rewinding", async (t) => {
  const { server, publish } = await publishing(t, 64);
  await publish(1, 100);
  const sent = [];
  const feed = await connect(server.url, { webSocketFactory: spyingFactory(sent, decode) });
  t.after(() => feed.close());
  const sub = feed.subscribe(TOPIC, { rewind: 10 });
  const items = await readUntil(sub, 10_000, "the window of 10", (xs) => xs.length >= 10);
  const want = ["snapshot 91", ...Array.from({ length: 9 }, (_, i) => `tick ${92 + i}`)];
  assert.deepEqual(trail(items, TOPIC), want);
  const [first] = items;
  assert.equal(first.price, 1 + 91 / 10_000, "the snapshot is trade 91's");
  assert.equal(first.size, 91);
  assert.equal(first.epoch, feed.welcome.epoch);
  assert.ok("prev_close" in first && "open" in first, "with the session fields");
  assert.ok(items.slice(1).every((x) => x.epoch === first.epoch), "ticks get the topic's epoch");
  assert.deepEqual(feed.positions()[TOPIC], [first.epoch, 100]);
  // Live continues right after the window.
  await publish(101, 101);
  await readUntil(sub, 10_000, "tick 101", (xs) => xs.length >= 11, { items });
  assert.equal(items[10].seq, 101);

  // A reconnect resumes with the position: its subscribe carries no rewind, nothing repeats.
  feed.reconnect();
  await within(10_000, "the second connection", (async () => {
    while (feed.connections < 2 || feed.state !== "open") await new Promise((r) => setTimeout(r, 20));
  })());
  await publish(102, 103);
  await readUntil(sub, 10_000, "ticks 102 and 103", (xs) => xs.length >= 13, { items });
  assert.deepEqual(trail(items, TOPIC).slice(10), ["tick 101", "tick 102", "tick 103"]);
  assert.deepEqual(subscribes(sent), [[[TOPIC], 10], [[TOPIC], undefined]]);
  assert.equal(sent.filter((m) => m.type === "resume").length, 1);
  assert.deepEqual(checkStream(items), []);
  assert.equal(feed.stats.duplicates, 0);
});

test("rewind larger than held: every held message (the history bound), first as a snapshot", async (t) => {
  const { server, publish } = await publishing(t, 64);
  await publish(1, 100);
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const sub = feed.subscribe(TOPIC, { rewind: 5000 });
  const items = await readUntil(sub, 10_000, "64 held messages", (xs) => xs.length >= 64);
  assert.deepEqual(trail(items, TOPIC), ["snapshot 37", ...Array.from({ length: 63 }, (_, i) => `tick ${38 + i}`)]);
  await publish(101, 101);
  await readUntil(sub, 10_000, "tick 101", (xs) => xs.length >= 65, { items });
  assert.equal(items[64].seq, 101);
  assert.deepEqual(checkStream(items), []);
  // A topic with no data yet: nothing until its first trade (a snapshot, seq 1).
  const other = feed.subscribe("fx.GBPUSD", { rewind: 10 });
  await within(5000, "ack", other.ready);
  assert.equal(other.buffered, 0);
});

test("rewind under load: history then live on every topic, contiguous, exactly one snapshot first; bars too; a cut connection resumes", async (t) => {
  // (--no-books: right after a pre-roll the server catches up with the clock in bursts, and with
  // order books on, a topic can publish more than its --history of 1,024 trades in the fraction
  // of a second the cut takes, which no resume can replay; this test is about trades and bars)
  const server = await startServer(["--rate", "2000", "--preroll", "1m", "--no-books"]);
  t.after(() => server.stop());
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const sent = [];
  const feed = await connect(proxy.url, { webSocketFactory: spyingFactory(sent, decode) });
  t.after(() => feed.close());
  const ticks = feed.subscribe("ticks.*", { rewind: 300 });
  const bars = feed.subscribe("bars.1s.*", { rewind: 20 });
  const perTopic = (xs) => {
    const n = new Map();
    for (const x of xs) if (x.topic) n.set(x.topic, (n.get(x.topic) ?? 0) + 1);
    return n;
  };
  const items = await readUntil(ticks, 30_000, "400 items on each of 5 topics", (xs) => {
    const n = perTopic(xs);
    return n.size === 5 && [...n.values()].every((c) => c >= 400);
  });
  for (const topic of perTopic(items).keys()) {
    const mine = items.filter((x) => x.topic === topic);
    assert.equal(mine[0].type, "snapshot", `${topic} starts with the snapshot standing for its oldest trade`);
    assert.ok(mine[0].seq > 1, `${topic}: pre-rolled history (seq ${mine[0].seq})`);
    assert.equal(mine.filter((x) => x.type === "snapshot").length, 1, `${topic}: ${summary(mine)}`);
  }
  assert.deepEqual(items.filter((x) => x.type === "gap"), []);
  assert.deepEqual(checkStream(items), []);

  const barItems = await readUntil(bars, 20_000, "20 bars on each topic", (xs) => {
    const n = perTopic(xs);
    return n.size === 5 && [...n.values()].every((c) => c >= 20);
  });
  assert.ok(barItems.every((x) => x.type === "bar" && typeof x.epoch === "number" && x.interval_ms === 1000), summary(barItems));
  assert.deepEqual(checkStream(barItems), []);
  // The window ends where live begins: 20 bars one second apart.
  for (const topic of perTopic(barItems).keys()) {
    const mine = barItems.filter((x) => x.topic === topic).slice(0, 20);
    assert.equal(mine[19].ts - mine[0].ts, 19_000_000_000n, `${topic}: ${summary(mine)}`);
  }

  // A cut connection: resumed from the positions, no rewind, no gap, no second snapshot.
  proxy.cut();
  const before = items.length;
  await readUntil(ticks, 30_000, "200 ticks on a second connection", (xs) => feed.connections >= 2 && xs.length >= before + 200, { items });
  assert.deepEqual(checkStream(items), []);
  assert.deepEqual(items.filter((x) => x.type === "gap"), []);
  assert.equal(items.filter((x) => x.type === "snapshot").length, 5);
  assert.deepEqual(subscribes(sent).map(([p, r]) => `${p} ${r}`), [
    "ticks.* 300",
    "bars.1s.* 20",
    "ticks.* undefined",
    "bars.1s.* undefined",
  ]);
  assert.equal(feed.stats.duplicates, 0);
});

test("rewind with since after a server restart: one announced gap per topic, then the history, then live", async (t) => {
  let server = await startServer();
  t.after(() => server.stop());
  const sent = [];
  const living = await connect(server.url, { webSocketFactory: spyingFactory(sent, decode) });
  t.after(() => living.close());
  const sub = living.subscribe("ticks.*", { rewind: 50 });
  const items = await readUntil(sub, 10_000, "30 ticks", (xs) => xs.filter((x) => x.type === "tick").length >= 30);
  const topics = [...new Set(items.map((x) => x.topic))];
  const oldEpoch = living.welcome.epoch;
  const since = living.positions();
  await server.stop("SIGKILL");
  server = await startServer(["--preroll", "1m"], { listen: server.addr });

  // A new feed handing the old positions over: the resume fails (older epoch), and instead of
  // the latest state the window comes, its first message announcing the loss.
  const feed = await connect(server.url, { since });
  t.after(() => feed.close());
  const got = await readUntil(feed.subscribe("ticks.*", { rewind: 50 }), 20_000, "a gap and 60 items on every topic", (xs) =>
    topics.every((topic) => xs.filter((x) => x.topic === topic).length >= 61),
  );
  for (const topic of topics) {
    const mine = got.filter((x) => x.topic === topic);
    assert.equal(mine[0].type, "gap", `${topic}: ${summary(mine)}`);
    assert.equal(mine[0].cause, "new_epoch");
    assert.equal(mine[0].previous_epoch, oldEpoch);
    assert.ok(mine[0].announced);
    assert.equal(mine.filter((x) => x.type === "gap").length, 1, `${topic}: one announcement`);
    assert.equal(mine[1].type, "snapshot");
    assert.equal(mine[1].recovered, false);
    assert.equal(mine[1].epoch, feed.welcome.epoch);
    assert.ok(mine.slice(2, 51).every((x) => x.type === "tick"), `${topic}: 49 ticks of history follow`);
  }
  assert.deepEqual(checkStream(got), []);

  // The feed that lived through the restart: one gap per topic, and it did not rewind again.
  await readUntil(sub, 20_000, "a gap on every topic", (xs) => topics.every((topic) => xs.some((x) => x.type === "gap" && x.topic === topic)), { items });
  for (const topic of topics) assert.equal(items.filter((x) => x.type === "gap" && x.topic === topic).length, 1);
  assert.deepEqual(subscribes(sent), [[["ticks.*"], 50], [["ticks.*"], undefined]]);
  assert.deepEqual(checkStream(items), []);
});

test("a topic unsubscribed and subscribed again at once: the new window is whole, leftovers in flight are not taken", async (t) => {
  const server = await startServer(["--rate", "2000", "--symbols", "2", "--preroll", "10s"]);
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const [topic] = (await feed.list("ticks.*")).sort();
  for (let round = 0; round < 5; round++) {
    const sub = feed.subscribe(topic, { rewind: 40 });
    const items = await readUntil(sub, 10_000, `round ${round}: the window and live ticks`, (xs) => xs.length >= 60);
    assert.equal(items[0].type, "snapshot", `round ${round}: ${summary(items)}`);
    assert.equal(items.filter((x) => x.type === "snapshot").length, 1);
    assert.deepEqual(items.filter((x) => x.type === "gap"), []);
    assert.deepEqual(checkStream(items), []);
    sub.close(); // unsubscribe; the next round subscribes the same topic before its ack
  }
  assert.equal(feed.stats.duplicates, 0, "nothing taken for the new subscription that was the old one's");
});

test("setPatterns with rewind: topics it adds start with their window; topics kept go on; a reconnect does not rewind", async (t) => {
  const server = await startServer(["--rate", "1000", "--symbols", "3", "--preroll", "30s"]);
  t.after(() => server.stop());
  const sent = [];
  const feed = await connect(server.url, { webSocketFactory: spyingFactory(sent, decode) });
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*", { rewind: 20 });
  const topics = (await feed.list("ticks.*")).sort();
  const items = await readUntil(sub, 10_000, "the windows", (xs) => topics.every((topic) => xs.filter((x) => x.topic === topic).length >= 20));
  await sub.setPatterns([topics[0]]);
  await sub.setPatterns(["ticks.*"]);
  const snapshots = (topic, xs) => xs.filter((x) => x.topic === topic && x.type === "snapshot").length;
  await readUntil(sub, 10_000, "a second window of each topic added again, and 30 items after it", (xs) =>
    topics.slice(1).every((topic) => {
      const mine = xs.filter((x) => x.topic === topic);
      const at = mine.findLastIndex((x) => x.type === "snapshot");
      return at > 0 && mine.length - at >= 30;
    }),
    { items },
  );
  for (const topic of topics.slice(1)) {
    const mine = items.filter((x) => x.topic === topic);
    assert.equal(snapshots(topic, mine), 2, `${topic}: its first window, and one more when it was added again`);
    // From its second window on: contiguous, no gap (the topic started afresh).
    assert.deepEqual(checkStream(mine.slice(mine.findLastIndex((x) => x.type === "snapshot"))), []);
  }
  assert.equal(snapshots(topics[0], items), 1, "the topic kept gets no second window");
  assert.deepEqual(checkStream(items.filter((x) => x.topic === topics[0])), []);
  assert.deepEqual(items.filter((x) => x.type === "gap"), []);
  feed.reconnect();
  const n = items.length;
  await readUntil(sub, 10_000, "ticks on a second connection", (xs) => feed.connections >= 2 && xs.length >= n + 30, { items });
  assert.deepEqual(subscribes(sent).map(([p, r]) => `${p} ${r}`), ["ticks.* 20", `${topics[0]} 20`, "ticks.* 20", "ticks.* undefined"]);
  assert.deepEqual(items.filter((x) => x.type === "gap"), []);
  for (const topic of topics) assert.equal(snapshots(topic, items.slice(n)), 0, `${topic}: resumed, not rewound`);
});
