// The reconnect schedule (PROTOCOL.md §14; the Python suite's
// test_backoff_doubles_to_30s_with_jitter): 0.5 s doubling to 30 s (maxBackoffMs), each wait
// × random(0.5, 1.5); a welcome starts it again from 0.5 s. No server: a feed whose every
// connection fails (a webSocketFactory of sockets that close with 1006), on mocked timers and
// a scripted Math.random, so each wait is checked exactly, as the feed reports it (onState's
// delayMs) and as its timer fires (not a millisecond early, not later).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Feed } from "../index.js";
import { encode } from "../msgpack.js";

const WELCOME = { type: "welcome", protocol: 1, server: "script", epoch: 9, heartbeat_ms: 60000, max_message_bytes: 65536, max_subscriptions: 64, ts: 1 };

/** Lets the sockets' microtasks and the feed's reactions run (setImmediate is not mocked). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A feed on mocked timers whose connections all fail; `randoms` are what Math.random returns,
 * in turn. Connection number `welcomeAt` (1-based) delivers a welcome before it fails.
 */
function failingFeed(t, randoms, { welcomeAt = 0, ...options } = {}) {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let drawn = 0;
  t.mock.method(Math, "random", () => {
    assert.ok(drawn < randoms.length, "more random draws than waits");
    return randoms[drawn++];
  });
  const ctx = { attempts: 0, waits: [] };
  const factory = () => {
    const attempt = ++ctx.attempts;
    const ws = { binaryType: "", send() {}, close() {} };
    queueMicrotask(() => {
      if (attempt === welcomeAt) {
        ws.onopen?.({});
        ws.onmessage?.({ data: encode(WELCOME) });
      }
      ws.onclose?.({ code: 1006, reason: "" });
    });
    return ws;
  };
  const onState = (state, detail) => {
    if (state === "connecting" || state === "reconnecting") ctx.waits.push(detail.delayMs);
  };
  ctx.feed = new Feed("ws://127.0.0.1:1/ws", { ...options, webSocketFactory: factory, connectTimeoutMs: 0, onState });
  t.after(() => ctx.feed.close());
  return ctx;
}

/**
 * Attempt `n` (1-based) has failed: checks the wait it reported against `want` ms, and that
 * the next attempt starts when that wait is over and not before.
 */
async function expectWait(t, ctx, n, want) {
  await settle();
  assert.equal(ctx.attempts, n, `attempts so far`);
  assert.equal(ctx.waits.length, n, `waits so far: ${ctx.waits.join(" ")}`);
  const wait = ctx.waits[n - 1];
  assert.ok(Math.abs(wait - want) <= 0.5, `wait ${n}: ${wait} ms, want ${want} ms`);
  t.mock.timers.tick(Math.max(0, wait - 1));
  await settle();
  assert.equal(ctx.attempts, n, `attempt ${n + 1} came before its wait of ${wait} ms was over`);
  t.mock.timers.tick(2);
  await settle();
  assert.equal(ctx.attempts, n + 1, `attempt ${n + 1} did not come after ${wait} ms`);
}

test("backoff: 0.5 s doubling to 30 s, each wait × random(0.5, 1.5); a welcome resets it", async (t) => {
  const randoms = [0, 0.9999, 0.5, 0.25, 0.75, 0.1, 0.9, 0.6, 0.4, 0.3, 0, 0.5, 0.5];
  const ctx = failingFeed(t, randoms, { welcomeAt: 11 });
  const bases = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000];
  for (const [i, base] of bases.entries()) await expectWait(t, ctx, i + 1, base * (0.5 + randoms[i]));
  // The jitter spreads the waits over [0.5, 1.5) × base: both ends are reached.
  assert.equal(ctx.waits[0], 250);
  assert.equal(ctx.waits[1], Math.round(1000 * 1.4999));

  // Connection 11 got its welcome before it failed: the schedule starts again, 0.5 s, then 1 s.
  await expectWait(t, ctx, 11, 500 * (0.5 + randoms[10]));
  assert.equal(ctx.feed.connections, 1);
  await expectWait(t, ctx, 12, 1000 * (0.5 + randoms[11]));
});

test("backoff: maxBackoffMs caps the doubling", async (t) => {
  const randoms = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  const ctx = failingFeed(t, randoms, { maxBackoffMs: 3000 });
  for (const [i, base] of [500, 1000, 2000, 3000, 3000, 3000].entries()) await expectWait(t, ctx, i + 1, base);
});

test("backoff: with the real Math.random every wait is within [0.5, 1.5] × its base", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const waits = [];
  let attempts = 0;
  const factory = () => {
    attempts++;
    const ws = { binaryType: "", send() {}, close() {} };
    queueMicrotask(() => ws.onclose?.({ code: 1006, reason: "" }));
    return ws;
  };
  const feed = new Feed("ws://127.0.0.1:1/ws", { webSocketFactory: factory, connectTimeoutMs: 0, onState: (s, d) => s !== "closed" && waits.push(d.delayMs) });
  t.after(() => feed.close());
  const bases = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000];
  for (let i = 0; i < bases.length; i++) {
    await settle();
    t.mock.timers.tick(waits[i] + 1);
  }
  await settle();
  assert.equal(attempts, bases.length + 1);
  for (const [i, base] of bases.entries()) assert.ok(waits[i] >= 0.5 * base && waits[i] <= 1.5 * base, `wait ${i + 1}: ${waits[i]} ms (base ${base})`);
  assert.ok(new Set(bases.map((base, i) => waits[i] / base)).size > 1, `no jitter: ${waits.join(" ")}`);
});
