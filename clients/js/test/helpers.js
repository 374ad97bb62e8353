// Test support: the real tickcast-server as a subprocess, a TCP proxy the tests can cut or
// freeze, and waits that always end (every wait has a timeout).
import { spawn } from "node:child_process";
import { createServer, connect as tcpConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const root = fileURLToPath(new URL("../../../", import.meta.url));
export const SERVER_BIN =
  process.env.TICKCAST_SERVER ?? `${process.env.CARGO_TARGET_DIR ?? `${root}target`}/debug/tickcast-server`;

/** Rejects with `what` when `promise` takes longer than `ms`. */
export function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Starts tickcast-server with `args` (default --listen 127.0.0.1:0 --seed 7 --rate 200
 * --symbols 5 --preroll 0: no pre-rolled history, topics count from seq 1; a test that wants
 * history passes e.g. `--preroll 1m`; `base: false` leaves the defaults out, for the server
 * as a user runs it) and resolves once its first stdout line gave the URL.
 */
export async function startServer(args = [], { listen = "127.0.0.1:0", base = true } = {}) {
  const defaults = base ? { "--seed": "7", "--rate": "200", "--symbols": "5", "--preroll": "0" } : {};
  const argv = ["--listen", listen];
  for (const [flag, value] of Object.entries(defaults)) if (!args.includes(flag)) argv.push(flag, value);
  argv.push(...args);
  const proc = spawn(SERVER_BIN, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: proc.stdout });
  const first = await within(
    15_000,
    `${SERVER_BIN} ${argv.join(" ")} printed its address`,
    new Promise((resolve, reject) => {
      lines.once("line", resolve);
      proc.once("error", reject);
      exited.then(({ code, signal }) => reject(new Error(`tickcast-server exited (${code ?? signal}): ${stderr}`)));
    }),
  );
  const m = /^listening on (wss?:\/\/([^/]+)\/ws)$/.exec(first);
  if (!m) throw new Error(`unexpected first line from tickcast-server: ${first}`);
  return {
    url: m[1],
    addr: m[2],
    port: Number(m[2].split(":").pop()),
    proc,
    stderr: () => stderr,
    /** SIGKILL (a crash) or SIGTERM (graceful: shutdown frame, close 1001); resolves on exit. */
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return within(10_000, "tickcast-server exited", exited);
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1:0 to `targetPort`. cut() destroys every open connection (a
 * network failure); freeze() stops forwarding on them without closing (a dead peer);
 * point(port) sends new connections to another port of 127.0.0.1 (a load balancer moving a
 * client to another node).
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  let target = targetPort;
  const server = createServer((client) => {
    const upstream = tcpConnect(target, "127.0.0.1");
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    const forward = (from, to) =>
      from.on("data", (chunk) => {
        if (!pair.frozen) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    get connections() {
      return pairs.size;
    },
    cut() {
      for (const p of [...pairs]) {
        p.client.destroy();
        p.upstream.destroy();
      }
    },
    freeze() {
      for (const p of pairs) p.frozen = true;
    },
    /** New connections go to `port`; open ones stay where they are. */
    point(port) {
      target = port;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Reads `iterator` (a Subscription) into `items` until `done(items)` is true; fails after
 * `ms`. Returns the items read. `onItem` may block (a slow consumer).
 */
export async function readUntil(iterator, ms, what, done, { items = [], onItem } = {}) {
  const loop = (async () => {
    if (done(items)) return items;
    for (;;) {
      const { value, done: ended } = await iterator.next();
      if (ended) throw new Error(`the stream ended while waiting for ${what}`);
      items.push(value);
      onItem?.(value, items);
      if (done(items)) return items;
    }
  })();
  return within(ms, `${what} (read ${items.length} items: ${summary(items)})`, loop);
}

/** A short description of the last items, for failure messages. */
export function summary(items) {
  return items
    .slice(-8)
    .map((i) => `${i.type} ${i.topic ?? ""} ${i.seq ?? i.received ?? ""}${i.cause ? ` ${i.cause}` : ""}`)
    .join(", ");
}

/**
 * Checks the stream's promise: per topic, within an epoch, seqs strictly increase and are
 * contiguous unless a gap item came right before. Returns the problems found.
 */
export function checkStream(items) {
  const problems = [];
  const last = new Map(); // topic -> { epoch, seq }
  const gapFor = new Set();
  for (const item of items) {
    if (item.type === "gap") {
      gapFor.add(item.topic);
      continue;
    }
    if (!["tick", "bar", "snapshot"].includes(item.type)) continue;
    const prev = last.get(item.topic);
    if (prev && prev.epoch === item.epoch) {
      if (item.seq <= prev.seq) problems.push(`${item.topic}: duplicate seq ${item.seq} after ${prev.seq}`);
      else if (item.seq !== prev.seq + 1 && !gapFor.has(item.topic)) {
        problems.push(`${item.topic}: unannounced jump ${prev.seq} -> ${item.seq}`);
      }
    } else if (prev && !gapFor.has(item.topic)) {
      problems.push(`${item.topic}: new epoch ${item.epoch} without a gap item`);
    }
    gapFor.delete(item.topic);
    last.set(item.topic, { epoch: item.epoch, seq: item.seq });
  }
  return problems;
}

/**
 * A webSocketFactory for connect() that notes every message the client sends (decoded) in
 * `sent`: to check what went to the server (e.g. which subscribe carried `rewind`).
 */
export function spyingFactory(sent, decode) {
  return (url, protocols, headers) => {
    const ws = headers && Object.keys(headers).length ? new WebSocket(url, { protocols, headers }) : new WebSocket(url, protocols);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      sent.push(decode(data));
      send(data);
    };
    return ws;
  };
}

/** Blocks the whole thread (the event loop included) for `ms`: a consumer busy elsewhere. */
export function blockThread(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
