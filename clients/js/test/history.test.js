// feed.history() and history(): GET /history/{topic} as typed messages (limit, from/to), the
// same as the endpoint's JSON and CSV, errors with the HTTP status and the server's code, and
// the token. Against the real tickcast-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { connect, history, httpBase, TickcastError } from "../index.js";
import { startServer } from "./helpers.js";

const TOPIC = "fx.EURUSD";

/** A server without a simulator whose fx.EURUSD has trades 1..n; `args` added. */
async function withTrades(t, n, args = []) {
  const server = await startServer(["--no-simulator", "--publish-token", "pub", ...args]);
  t.after(() => server.stop());
  const publisher = await connect(server.url, { token: "pub" });
  for (let i = 1; i <= n; i++) await publisher.publish(TOPIC, 1 + i / 10_000, i, 1 + (i - 1) / 10_000, 1 + (i + 1) / 10_000);
  publisher.close();
  return server;
}

/** An HS256 token signed with `secret` (the server's --jwt-secret). */
function jwt(secret, claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** The TickcastError `promise` rejects with. */
const refusal = (promise) => promise.then((v) => assert.fail(`expected a refusal, got ${JSON.stringify(Object.keys(v))}`), (e) => e);

test("httpBase: the HTTP base of a WebSocket URL", () => {
  assert.equal(httpBase("ws://127.0.0.1:8080/ws"), "http://127.0.0.1:8080");
  assert.equal(httpBase("wss://md.example/feed/ws"), "https://md.example/feed");
  assert.equal(httpBase("http://h:1/"), "http://h:1");
  assert.throws(() => httpBase("ftp://h/"), TypeError);
});

test("feed.history: the latest messages, oldest first, typed as the stream's; limit and from/to", async (t) => {
  const server = await withTrades(t, 30);
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const h = await feed.history(TOPIC, { limit: 5 });
  assert.equal(h.topic, TOPIC);
  assert.equal(h.epoch, feed.welcome.epoch);
  assert.deepEqual(h.messages.map((m) => m.seq), [26, 27, 28, 29, 30]);
  for (const m of h.messages) {
    assert.equal(m.type, "tick");
    assert.equal(m.topic, TOPIC);
    assert.equal(typeof m.ts, "bigint");
    assert.equal(m.epoch, h.epoch, "ticks get the topic's epoch");
    assert.equal(m.price, 1 + m.seq / 10_000);
    assert.equal(m.size, m.seq);
  }
  // The default limit gives everything held here; from <= ts < to, as BigInt ns.
  const all = (await feed.history(TOPIC)).messages;
  assert.deepEqual(all.map((m) => m.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  const range = await feed.history(TOPIC, { from: all[9].ts, to: all[12].ts });
  assert.deepEqual(range.messages.map((m) => m.seq), [10, 11, 12]);
  const later = new Date(Date.now() + 3_600_000);
  assert.equal((await feed.history(TOPIC, { from: later })).messages.length, 0, "a Date");
  assert.equal((await feed.history(TOPIC, { to: later.getTime(), limit: 2 })).messages.length, 2, "a Number of ms");
  assert.equal((await feed.history(TOPIC, { from: later.toISOString() })).messages.length, 0, "an RFC 3339 string");
  // The standalone call, from the http:// base, is the same.
  assert.deepEqual(await history(`http://${server.addr}`, TOPIC, { limit: 5 }), h);
});

test("history is the endpoint's JSON and CSV, exactly (ts beyond 2^53 included)", async (t) => {
  const server = await withTrades(t, 12);
  const h = await history(server.url, TOPIC);
  const json = await (await fetch(`http://${server.addr}/history/${TOPIC}?format=json`)).text();
  // JSON numbers lose the ts digits in JSON.parse: compare the text.
  for (const m of h.messages) assert.ok(json.includes(`"ts": ${m.ts}`) || json.includes(`"ts":${m.ts}`), `ts ${m.ts} in the JSON`);
  assert.deepEqual(JSON.parse(json).messages.map((m) => [m.seq, m.price, m.bid, m.ask, m.size]), h.messages.map((m) => [m.seq, m.price, m.bid, m.ask, m.size]));
  const csv = (await (await fetch(`http://${server.addr}/history/${TOPIC}?format=csv`)).text()).trim().split("\n");
  assert.equal(csv[0], "seq,ts,symbol,price,size,bid,ask,volume");
  assert.deepEqual(csv.slice(1), h.messages.map((m) => [m.seq, m.ts, m.symbol, m.price, m.size, m.bid, m.ask, m.volume].join(",")));
});

test("history of bars: bar messages with their epoch and interval", async (t) => {
  const server = await startServer(["--preroll", "10m"]);
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const [topic] = (await feed.list("bars.1m.*")).sort();
  const h = await feed.history(topic, { limit: 5 });
  assert.equal(h.messages.length, 5);
  for (const [i, m] of h.messages.entries()) {
    assert.equal(m.type, "bar");
    assert.equal(m.interval_ms, 60_000);
    assert.equal(m.epoch, h.epoch);
    if (i > 0) assert.equal(m.ts - h.messages[i - 1].ts, 60_000_000_000n);
  }
});

test("history errors: a TickcastError with the HTTP status and the server's code", async (t) => {
  const server = await withTrades(t, 3);
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const cases = [
    ["fx.NOPE", {}, 404, "unknown_topic"],
    ["fx.*", {}, 400, "bad_topic"],
    ["fx..X", {}, 400, "bad_topic"],
    [TOPIC, { limit: 0 }, 400, "bad_request"],
    [TOPIC, { from: 20n, to: 10n }, 400, "bad_request"],
    [TOPIC, { from: "yesterday" }, 400, "bad_request"],
  ];
  for (const [topic, options, status, code] of cases) {
    const e = await refusal(feed.history(topic, options));
    assert.ok(e instanceof TickcastError, String(e));
    assert.deepEqual([e.kind, e.status, e.code], ["http", status, code], `${topic} ${JSON.stringify(options, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}: ${e.message}`);
    assert.match(e.message, new RegExp(`HTTP ${status} ${code}`));
    assert.ok(e.reason, "the server's words");
  }
  await assert.rejects(feed.history(TOPIC, { from: {} }), TypeError);
  const port = server.port;
  await server.stop();
  const down = await refusal(history(`ws://127.0.0.1:${port}/ws`, TOPIC, { timeoutMs: 5000 }));
  assert.ok(down instanceof TickcastError && down.kind === "connection", String(down));
});

test("history and tokens: the feed's token as a Bearer header; 401 without or with a wrong one; 403 outside its topics", async (t) => {
  const server = await withTrades(t, 3, ["--subscribe-token", "s3cret", "--jwt-secret", "k3y"]);
  const feed = await connect(server.url, { token: "s3cret" });
  t.after(() => feed.close());
  assert.equal((await feed.history(TOPIC)).messages.length, 3);
  for (const token of [undefined, "wrong"]) {
    const e = await refusal(history(server.url, TOPIC, { token }));
    assert.deepEqual([e.kind, e.status], ["http", 401], e.message);
    assert.match(e.message, /token/);
  }
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const scoped = jwt("k3y", { exp, topics: ["ticks.*"] });
  const e = await refusal(history(server.url, TOPIC, { token: scoped }));
  assert.deepEqual([e.kind, e.status, e.code], ["http", 403, "forbidden"], e.message);
  const fx = jwt("k3y", { exp, topics: ["fx.*"] });
  assert.equal((await history(server.url, TOPIC, { token: fx, limit: 1 })).messages[0].seq, 3);
});
