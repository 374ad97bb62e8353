// Losing nothing, or saying so: a cut connection, a dead peer, a server restart and a slow
// consumer, each against the real tickcast-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../index.js";
import { startServer, startProxy, readUntil, checkStream, blockThread, summary } from "./helpers.js";

const ticks = (xs) => xs.filter((x) => x.type === "tick").length;

test("a cut TCP connection: reconnect, resume every topic, no hole and no duplicate", async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const states = [];
  const feed = await connect(proxy.url, { onState: (s) => states.push(s) });
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  const items = await readUntil(sub, 10_000, "30 ticks", (xs) => ticks(xs) >= 30);
  proxy.cut();
  const before = ticks(items);
  await readUntil(sub, 20_000, "60 ticks after the cut, on a second connection", (xs) => ticks(xs) >= before + 60 && feed.connections >= 2, { items });
  assert.ok(states.includes("reconnecting"), states.join(" "));
  assert.deepEqual(checkStream(items), []);
  assert.deepEqual(items.filter((x) => x.type === "gap"), [], "no gap: the server replayed what was missed");
  // Replay, not a snapshot: one snapshot per topic, from the first connection.
  assert.equal(items.filter((x) => x.type === "snapshot").length, 5, summary(items));
});

test("a dead peer (nothing arrives for 3 heartbeats): close, reconnect, resume with no hole", async (t) => {
  const server = await startServer(["--heartbeat-ms", "200"]);
  t.after(() => server.stop());
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const feed = await connect(proxy.url);
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  const items = await readUntil(sub, 10_000, "20 ticks", (xs) => ticks(xs) >= 20);
  const frozenAt = Date.now();
  proxy.freeze(); // the old connection stays open but silent
  const before = ticks(items);
  await readUntil(sub, 15_000, "40 ticks on a new connection", (xs) => ticks(xs) >= before + 40 && feed.connections >= 2, { items });
  assert.ok(Date.now() - frozenAt >= 600, "not before 3 x heartbeat_ms");
  assert.deepEqual(checkStream(items), []);
  assert.deepEqual(items.filter((x) => x.type === "gap"), []);
});

for (const signal of ["SIGKILL", "SIGTERM"]) {
  test(`server restart (${signal}) on the same port: exactly one new_epoch gap per topic, no duplicate`, async (t) => {
    let server = await startServer();
    t.after(() => server.stop());
    const feed = await connect(server.url);
    t.after(() => feed.close());
    const sub = feed.subscribe("ticks.*");
    const items = await readUntil(sub, 10_000, "30 ticks", (xs) => ticks(xs) >= 30);
    const oldEpoch = feed.welcome.epoch;
    const topics = new Set(items.map((x) => x.topic));
    await server.stop(signal);
    server = await startServer([], { listen: server.addr });
    // Each topic: its gap, then ticks of the new epoch.
    await readUntil(sub, 30_000, "a gap and 3 ticks of the new epoch on every topic", (xs) =>
      [...topics].every((topic) => {
        const gap = xs.findIndex((x) => x.type === "gap" && x.topic === topic);
        return gap >= 0 && xs.slice(gap).filter((x) => x.type === "tick" && x.topic === topic).length >= 3;
      }),
      { items },
    );
    assert.notEqual(feed.welcome.epoch, oldEpoch);
    const gaps = items.filter((x) => x.type === "gap");
    assert.equal(gaps.length, topics.size, summary(gaps));
    for (const topic of topics) {
      const mine = gaps.filter((g) => g.topic === topic);
      assert.equal(mine.length, 1, `${topic}: ${summary(mine)}`);
      assert.equal(mine[0].cause, "new_epoch");
      assert.equal(mine[0].previous_epoch, oldEpoch);
      assert.equal(mine[0].epoch, feed.welcome.epoch);
      assert.ok(mine[0].announced);
    }
    assert.deepEqual(checkStream(items), []);
  });
}

test("slow consumer (--queue-bytes 4096): lagged and an announced seq_jump gap appear", async (t) => {
  const server = await startServer(["--queue-bytes", "4096", "--socket-send-buffer", "4096", "--rate", "5000", "--symbols", "5"]);
  t.after(() => server.stop());
  const feed = await connect(server.url);
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  let blocked = 0;
  const items = await readUntil(
    sub,
    30_000,
    "a lagged that dropped messages, then a gap",
    (xs) => {
      // (the server may also send a lagged with dropped: 0; that one needs no gap)
      const at = xs.findIndex((x) => x.type === "lagged" && x.dropped > 0);
      return at >= 0 && xs.slice(at).some((x) => x.type === "gap");
    },
    {
      onItem(item, xs) {
        // Busy elsewhere, the whole thread: nothing reads the socket for a while (3 times at most).
        if (ticks(xs) % 200 === 100 && item.type === "tick" && blocked < 3) {
          blocked++;
          blockThread(1500);
        }
      },
    },
  );
  const lagged = items.filter((x) => x.type === "lagged");
  assert.ok(lagged.some((l) => l.dropped > 0), JSON.stringify(lagged));
  const gaps = items.filter((x) => x.type === "gap");
  assert.ok(gaps.every((g) => g.cause === "seq_jump" && g.lagged && g.announced && g.missed > 0), summary(gaps));
  assert.deepEqual(checkStream(items), []);
});

test("a reader slower than maxBuffered: the library conflates and puts gap items in the stream", async (t) => {
  const server = await startServer(["--rate", "1000"]);
  t.after(() => server.stop());
  const feed = await connect(server.url, { maxBuffered: 50 });
  t.after(() => feed.close());
  const sub = feed.subscribe("ticks.*");
  await readUntil(sub, 10_000, "first items", (xs) => xs.length >= 5);
  await new Promise((resolve) => setTimeout(resolve, 500)); // a reader busy elsewhere (async)
  const items = await readUntil(sub, 10_000, "a client_buffer gap", (xs) => xs.some((x) => x.cause === "client_buffer"));
  const gap = items.find((x) => x.type === "gap");
  assert.ok(gap.missed > 0 && gap.announced);
  assert.deepEqual(checkStream(items.slice(items.indexOf(gap))), []);
});
