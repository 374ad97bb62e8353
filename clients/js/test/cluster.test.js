// A cluster move with no hole, against real processes: a plain nats-server (no JetStream),
// node A (tickcast-server with its embedded simulator, publishing into the cluster through
// NATS) and node B (--no-simulator: it serves what NATS delivers). The feed connects to A
// through the cut proxy; once it has data, the proxy is pointed at B and the connection cut:
// the feed resumes every topic on B from its [epoch, seq] (`resume`), and the stream has no
// gap, no duplicate and contiguous seqs per topic across the move. Without nats-server the
// test is skipped (saying why), or fails when TICKCAST_REQUIRE_NATS is set (scripts/test.sh
// and scripts/test-js-client.sh install nats-server and set it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { delimiter, join } from "node:path";
import { connect } from "../index.js";
import { startServer, startProxy, readUntil, checkStream, within, summary } from "./helpers.js";

const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin"]; // where Debian puts nats-server
const SYMBOLS = ["SYN0000", "SYN0001", "SYN0002", "SYN0003", "SYN0004"]; // --symbols 5
const TICKS = SYMBOLS.map((s) => `ticks.${s}`);
const BARS = SYMBOLS.map((s) => `bars.1s.${s}`);

function findNatsServer() {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), ...EXTRA_DIRS]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, "nats-server"), constants.X_OK);
      return join(dir, "nats-server");
    } catch {
      /* not here */
    }
  }
  return null;
}

const natsBin = findNatsServer();
const skip = !natsBin && !process.env.TICKCAST_REQUIRE_NATS && "nats-server not found on PATH (install it, or set TICKCAST_REQUIRE_NATS to make this a failure)";
if (skip) console.error(`skipped: cluster.test.js: ${skip}`);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A plain nats-server on 127.0.0.1, accepting connections: its URL and stop(). */
async function startNats() {
  const port = await freePort();
  const proc = spawn(natsBin, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const accepts = () =>
    new Promise((resolve) => {
      const socket = tcpConnect(port, "127.0.0.1");
      socket.once("connect", () => resolve(!!socket.destroy()));
      socket.once("error", () => resolve(false));
    });
  await within(10_000, `nats-server listening on ${port}`, (async () => {
    while (!(await accepts())) {
      assert.equal(proc.exitCode, null, "nats-server exited");
      await new Promise((r) => setTimeout(r, 50));
    }
  })());
  return {
    url: `nats://127.0.0.1:${port}`,
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      return within(10_000, "nats-server exited", exited);
    },
  };
}

/** Polls `server`'s GET /healthz until 200 (it joined the cluster); resolves with its body. */
async function waitReady(server) {
  const deadline = Date.now() + 20_000;
  let last = "";
  for (;;) {
    try {
      const res = await fetch(`http://${server.addr}/healthz`, { signal: AbortSignal.timeout(5000) });
      const body = await res.json();
      last = `${res.status} ${JSON.stringify(body)}`;
      if (res.status === 200) {
        assert.equal(body.ready, true, last);
        assert.equal(body.broker, "nats", last);
        return body;
      }
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      last = String(e);
    }
    if (Date.now() > deadline) throw new Error(`${server.addr} not ready within 20 s: ${last}; ${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (xs, topic) => xs.filter((x) => x.topic === topic && x.type !== "gap").length;

test("a feed moved to another cluster node resumes every topic: no gap, no duplicate, contiguous seqs", { skip }, async (t) => {
  assert.ok(natsBin, `nats-server is required (TICKCAST_REQUIRE_NATS is set) but not found on PATH or in ${EXTRA_DIRS.join(", ")}`);
  const nats = await startNats();
  t.after(() => nats.stop());
  // B first: it then holds every message the cluster publishes (a plain NATS keeps none).
  const b = await startServer(["--broker", nats.url, "--no-simulator"]);
  t.after(() => b.stop());
  const bHealth = await waitReady(b);
  const a = await startServer(["--broker", nats.url]); // the simulator: --preroll 0, 5 symbols
  t.after(() => a.stop());
  const aHealth = await waitReady(a);
  assert.notEqual(aHealth.epoch, bHealth.epoch);
  const proxy = await startProxy(a.port);
  t.after(() => proxy.close());
  const feed = await connect(proxy.url);
  t.after(() => feed.close());
  assert.equal(Number(feed.welcome.epoch), aHealth.epoch);

  const sub = feed.subscribe(["ticks.*", "bars.1s.*"]);
  const enough = (xs, base = {}) =>
    TICKS.every((tp) => count(xs, tp) >= (base[tp] ?? 0) + 10) && BARS.every((tp) => count(xs, tp) >= (base[tp] ?? 0) + 2);
  const items = await readUntil(sub, 20_000, "10 ticks and 2 bars of every symbol on A", (xs) => enough(xs));
  await waitReady(b);
  proxy.point(b.port);
  proxy.cut();
  const moved = items.length;
  const before = Object.fromEntries([...TICKS, ...BARS].map((tp) => [tp, count(items, tp)]));
  await readUntil(sub, 30_000, "10 more ticks and 2 more bars of every symbol on B", (xs) => feed.connections >= 2 && enough(xs, before), { items });

  // Now on B, resumed: nothing announced, nothing twice, no snapshot after the move.
  assert.equal(feed.connections, 2);
  assert.equal(Number(feed.welcome.epoch), bHealth.epoch);
  assert.deepEqual(checkStream(items), []);
  assert.deepEqual(items.filter((x) => x.type === "gap" || x.type === "lagged"), [], summary(items));
  assert.deepEqual(items.slice(moved).filter((x) => x.type === "snapshot"), [], "replayed, not a snapshot");
  for (const topic of [...TICKS, ...BARS]) {
    const mine = items.filter((x) => x.topic === topic && ["tick", "snapshot", "bar"].includes(x.type));
    const seqs = mine.map((x) => x.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), `${topic}: ${seqs.join(" ")}`);
    // One epoch, the source's (A's simulator), on either node: never B's own.
    const epochs = new Set(mine.map((x) => Number(x.epoch)));
    assert.equal(epochs.size, 1, `${topic}: epochs ${[...epochs].join(" ")}`);
    assert.ok(!epochs.has(bHealth.epoch), `${topic}: B's epoch`);
  }
});
