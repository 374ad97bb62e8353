// The library against the real tickcast-server: subscribing, wildcards, since, options,
// errors, tokens and publishing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, matches, closeAdvice, TickcastError } from "../index.js";
import { startServer, readUntil, checkStream, within } from "./helpers.js";

test("matches: NATS wildcards as in PROTOCOL.md §4", () => {
  const yes = [
    ["ticks.AAPL", "ticks.AAPL"],
    ["ticks.*", "ticks.BRK-B"],
    ["bars.*.AAPL", "bars.1m.AAPL"],
    ["bars.>", "bars.1s.AAPL"],
    ["*.>", "a.b"],
    [">", "ticks"],
  ];
  const no = [
    ["ticks.AAPL", "ticks.AAPLX"],
    ["ticks.AAPL", "ticks.AAPL.x"],
    ["ticks.*", "ticks"],
    ["ticks.*", "ticks.AAPL.x"],
    ["bars.1m.*", "bars.1s.AAPL"],
    ["bars.>", "bars"],
    ["*.>", "ticks"],
  ];
  for (const [p, t] of yes) assert.ok(matches(p, t), `${p} should match ${t}`);
  for (const [p, t] of no) assert.ok(!matches(p, t), `${p} should not match ${t}`);
});

test("closeAdvice follows PROTOCOL.md §12", () => {
  for (const c of [1002, 1003, 1007, 1009, 4000, 4001, 4099]) assert.equal(closeAdvice(c), "stop", String(c));
  for (const c of [1000, 1001, 1006, 1008, 1011, 1013, 4100, 4199, 3000]) assert.equal(closeAdvice(c), "backoff", String(c));
  for (const c of [4200, 4299]) assert.equal(closeAdvice(c), "now", String(c));
});

test("subscribe with wildcards: typed messages, seq per topic, ts BigInt, epoch Number", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  assert.equal(feed.welcome.type, "welcome");

  const all = feed.subscribe("ticks.*");
  const ack = await within(5000, "ack", all.ready);
  assert.deepEqual(ack.subscriptions, ["ticks.*"]);
  const items = await readUntil(all, 15_000, "5 snapshots and 50 ticks", (xs) =>
    xs.filter((x) => x.type === "snapshot").length >= 5 && xs.filter((x) => x.type === "tick").length >= 50,
  );
  const topics = new Set(items.map((x) => x.topic));
  assert.equal(topics.size, 5, [...topics].join(" "));
  for (const x of items) {
    assert.ok(matches("ticks.*", x.topic), x.topic);
    assert.equal(typeof x.ts, "bigint");
    assert.equal(typeof x.seq, "number");
    assert.equal(x.epoch, feed.welcome.epoch);
    if (x.type === "tick") {
      for (const k of ["symbol", "price", "size", "bid", "ask", "volume"]) assert.ok(k in x, `tick has ${k}`);
    }
  }
  // Every topic starts with its snapshot, then ticks continue from its seq.
  for (const topic of topics) assert.equal(items.find((x) => x.topic === topic).type, "snapshot");
  assert.deepEqual(checkStream(items), []);
  assert.equal(items.filter((x) => x.type === "gap").length, 0);

  // A second subscription on the same feed: one topic, and bars by wildcard.
  const [one] = [...topics].sort();
  const single = feed.subscribe([one]);
  const bars = feed.subscribe("bars.1s.*");
  const got = await readUntil(single, 10_000, `ticks of ${one}`, (xs) => xs.filter((x) => x.type === "tick").length >= 3);
  assert.ok(got.every((x) => x.topic === one));
  const barItems = await readUntil(bars, 10_000, "a bar", (xs) => xs.some((x) => x.type === "bar"));
  const bar = barItems.find((x) => x.type === "bar");
  assert.ok(matches("bars.1s.*", bar.topic));
  assert.equal(typeof bar.epoch, "number");
  assert.equal(bar.interval_ms, 1000);
  single.close();
  bars.close();
  assert.ok(single.ended);
});

test("since resumes from a given position (replay, no snapshot); positions() gives it", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const first = await connect(server.url);
  const sub = first.subscribe("ticks.*");
  await readUntil(sub, 10_000, "20 ticks", (xs) => xs.filter((x) => x.type === "tick").length >= 20);
  const since = first.positions();
  first.close();
  const [topic, [epoch, seq]] = Object.entries(since)[0];
  assert.equal(typeof epoch, "number");

  const feed = await connect(server.url, { since: { [topic]: [epoch, seq] } });
  t.after(() => feed.close());
  const items = await readUntil(feed.subscribe(topic), 10_000, `a tick of ${topic}`, (xs) => xs.some((x) => x.type === "tick"));
  assert.equal(items[0].type, "tick", `first item is ${items[0].type}`);
  assert.equal(items[0].seq, seq + 1);
  assert.deepEqual(checkStream(items), []);
});

test("options: snapshot false and max_rate reach the server; depth is accepted", async (t) => {
  const server = await startServer(["--rate", "1000"]);
  t.after(() => server.stop());
  const feed = await connect(server.url, { snapshot: false });
  t.after(() => feed.close());
  // Wait until every topic traded: a topic's first trade arrives as a snapshot (seq 1) even
  // under snapshot: false (PROTOCOL.md §8).
  await within(10_000, "5 ticks topics", (async () => {
    while ((await feed.list("ticks.*")).length < 5) await new Promise((r) => setTimeout(r, 50));
  })());
  const sub = feed.subscribe("ticks.*", { max_rate: 2, depth: 5 });
  const items = await readUntil(sub, 10_000, "12 ticks", (xs) => xs.filter((x) => x.type === "tick").length >= 12);
  assert.ok(!items.some((x) => x.type === "snapshot" && x.seq !== 1), "no snapshot under snapshot: false");
  // Under max_rate the seqs jump: announced gap items that say max_rate.
  const gaps = items.filter((x) => x.type === "gap");
  assert.ok(gaps.length > 0, "seq jumps under max_rate are reported");
  assert.ok(gaps.every((g) => g.cause === "seq_jump" && g.max_rate && g.announced));
  assert.deepEqual(checkStream(items), []);
});

test("a refused subscribe ends its stream with the server's code; the feed carries on", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const bad = feed.subscribe("ticks..AAPL");
  await assert.rejects(within(5000, "the error", bad.next()), (e) => e instanceof TickcastError && e.code === "bad_topic");
  const good = feed.subscribe("ticks.*");
  await readUntil(good, 10_000, "a tick", (xs) => xs.some((x) => x.type === "tick"));
});

test("close 1009 (message too big) is final: the stream throws and says why", async (t) => {
  const server = await startServer(["--max-message-bytes", "4096"]);
  t.after(() => server.stop());
  const feed = await connect(server.url);
  const patterns = Array.from({ length: 400 }, (_, i) => `ticks.TOPIC${i}`);
  const sub = feed.subscribe(patterns);
  const err = await within(10_000, "the 1009 error", sub.next().then(() => null, (e) => e));
  assert.ok(err instanceof TickcastError, String(err));
  assert.equal(err.closeCode, 1009);
  assert.match(err.message, /too big/);
  await assert.rejects(feed.done);
  assert.equal(feed.state, "closed");
});

test("tokens: none or a wrong one is refused with HTTP 401 and a reason; the right one works", async (t) => {
  const server = await startServer(["--subscribe-token", "s3cret"]);
  t.after(() => server.stop());
  for (const options of [{}, { token: "wrong" }]) {
    const err = await within(10_000, "the 401", connect(server.url, options).then(() => null, (e) => e));
    assert.ok(err instanceof TickcastError, String(err));
    assert.equal(err.status, 401);
    assert.match(err.message, /HTTP 401.*token/);
  }
  // As a header (Node's default) and as ?token= (the browser's way).
  for (const tokenIn of ["header", "query"]) {
    const feed = await within(10_000, `connect with the token (${tokenIn})`, connect(server.url, { token: "s3cret", tokenIn }));
    await readUntil(feed.subscribe("ticks.*"), 10_000, "a tick", (xs) => xs.some((x) => x.type === "tick"));
    feed.close();
  }
});

test("publish: acked with a publisher token, refused without one", async (t) => {
  const server = await startServer(["--publish-token", "pub", "--no-simulator"]);
  t.after(() => server.stop());
  const reader = await connect(server.url);
  t.after(() => reader.close());
  const sub = reader.subscribe("fx.*");
  await within(5000, "ack", sub.ready);
  const publisher = await connect(server.url, { token: "pub" });
  t.after(() => publisher.close());

  const ack = await publisher.publish("fx.EURUSD", 1.0832, 1000, 1.0831, 1.0833);
  assert.equal(ack.op, "publish");
  assert.deepEqual(ack.topics, ["fx.EURUSD"]);
  await publisher.publish("fx.EURUSD", 1.0834, 500);
  const items = await readUntil(sub, 10_000, "the snapshot and the tick", (xs) => xs.length >= 2);
  assert.equal(items[0].type, "snapshot");
  assert.equal(items[0].seq, 1);
  assert.equal(items[0].price, 1.0832);
  assert.equal(items[1].type, "tick");
  assert.equal(items[1].seq, 2);
  assert.equal(items[1].bid, 1.0834);

  await assert.rejects(reader.publish("fx.EURUSD", 1.1, 1), (e) => e instanceof TickcastError && e.code === "forbidden");
  await assert.rejects(publisher.publish("fx.EURUSD", -1, 1), (e) => e.code === "bad_request");
  await assert.rejects(publisher.publish("fx.*", 1, 1), (e) => e.code === "bad_topic");
});

test("connect gives up after connectTimeoutMs when nothing listens", async () => {
  const server = await startServer();
  const url = server.url;
  await server.stop();
  const err = await within(10_000, "the timeout", connect(url, { connectTimeoutMs: 1500 }).then(() => null, (e) => e));
  assert.ok(err instanceof TickcastError);
  assert.equal(err.kind, "timeout");
  assert.match(err.message, /could not connect/);
});
