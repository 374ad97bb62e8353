// tickcast client library for JavaScript: subscribe to a tickcast server from a browser or
// Node 20+ and receive every message exactly once, or an announced gap.
//
//   import { connect } from "./clients/js/index.js";
//   const feed = await connect("ws://127.0.0.1:8080/ws");
//   for await (const msg of feed.subscribe("ticks.AAPL")) console.log(msg.type, msg.topic, msg.seq);
//
// It implements proto/PROTOCOL.md sections 8, 9, 12, 13 and 14: it tracks each topic's
// [epoch, seq] from the topic's own messages, reconnects with backoff and jitter, hands every
// position over in `resume` pieces before subscribing again (so the server replays what was
// missed), drops duplicates, and puts a `gap` item into the stream for every loss (a failed
// resume, a new epoch, a seq jump after `lagged` or under `max_rate`).
//
// Plain ES module, no build step, no runtime dependency (MessagePack is ./msgpack.js). Types
// and the API reference are in index.d.ts; the README explains every option.

import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.js";

/** The subprotocol this client offers (MessagePack frames). */
export const SUBPROTOCOL = "tickcast.v1.msgpack";

/** HTTP answers to the upgrade after which retrying cannot help (PROTOCOL.md §2, §14). */
export const FATAL_HTTP_STATUSES = Object.freeze([400, 401, 403, 405, 426]);

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const RESUME_PIECE = 1000; // topics per `resume` message (PROTOCOL.md §14)
const IS_NODE =
  typeof globalThis.process !== "undefined" && !!globalThis.process.versions?.node && typeof globalThis.window === "undefined";

/** An error that ends a feed, a subscription or a request; `message` says why and what to do. */
export class TickcastError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = "TickcastError";
    /** "http" | "close" | "server" | "timeout" | "connection" | "environment" | "closed" */
    this.kind = details.kind ?? "connection";
    /** HTTP status of a refused upgrade (Node only: browsers hide it). */
    this.status = details.status;
    /** WebSocket close code. */
    this.closeCode = details.closeCode;
    /** The server's `error.code` (bad_topic, forbidden, ...). */
    this.code = details.code;
    /** The server's text: HTTP body, close reason or `error.message`. */
    this.reason = details.reason;
  }
}

/**
 * What to do after the connection closed with `code` (PROTOCOL.md §12):
 * "stop" (reconnecting would fail the same way), "now" (4200-4299) or "backoff".
 */
export function closeAdvice(code) {
  if (code === 1002 || code === 1003 || code === 1007 || code === 1009) return "stop";
  if (code >= 4000 && code <= 4099) return "stop";
  if (code >= 4200 && code <= 4299) return "now";
  return "backoff";
}

/** Whether topic `topic` matches pattern `pattern` (NATS style: `*` one token, `>` the rest). */
export function matches(pattern, topic) {
  const p = pattern.split(".");
  const t = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i === p.length - 1 && t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== "*" && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

function closeMessage(code, reason) {
  const said = reason ? ` (${reason})` : "";
  if (code === 4001) {
    return `the server closed the connection with 4001${said}: the signed token expired. Get a new token and connect again with it.`;
  }
  if (code >= 4000 && code <= 4099) {
    return `the server refused this client with close code ${code}${said}. Reconnecting would fail the same way: fix the cause (e.g. get a new token) and connect again.`;
  }
  const what = {
    1002: "a protocol error (the client broke RFC 6455)",
    1003: "unsupported data (a frame kind the server does not accept)",
    1007: "invalid payload (a text frame or close reason that is not valid UTF-8)",
    1009: "message too big (a message larger than welcome.max_message_bytes: subscribe fewer patterns per call)",
  }[code];
  return `the server closed the connection with ${code}${said}: ${what}. Reconnecting would fail the same way: fix the program first.`;
}

function httpMessage(url, status, body) {
  const said = body ? `: ${body}` : "";
  switch (status) {
    case 401:
      return `the server refused the connection to ${url} with HTTP 401${said}. It needs a valid access token: pass { token } (a wrong or expired token is refused; do not retry with the same one).`;
    case 403:
      return `the server refused the connection to ${url} with HTTP 403${said}. This page's origin is not allowed: serve the page from the server's own origin, or have the operator add it with --allowed-origin.`;
    case 405:
    case 426:
      return `the server answered ${url} with HTTP ${status}${said}: that is not a WebSocket upgrade it accepts. Check that the URL points at the server's /ws endpoint (ws:// or wss://).`;
    default:
      return `the server refused the connection to ${url} with HTTP ${status}${said}: the upgrade request was malformed or offered no supported subprotocol (this client offers ${SUBPROTOCOL}). Fix the client or the URL; retrying as is will not help.`;
  }
}

const defaultCodec = { encode: msgpackEncode, decode: msgpackDecode };

function defaultWebSocketFactory(url, protocols, headers) {
  const WS = globalThis.WebSocket;
  if (typeof WS !== "function") {
    throw new TickcastError(
      "there is no global WebSocket: on Node 20 run with `node --experimental-websocket` (Node 22 and newer have it by default), or pass the `webSocketFactory` option",
      { kind: "environment" },
    );
  }
  // Node's WebSocket (undici) takes headers in an options object; the browser API takes none.
  if (headers && Object.keys(headers).length) return new WS(url, { protocols, headers });
  return new WS(url, protocols);
}

/** Node only: ask the server itself why the upgrade failed (the WebSocket API hides the status). */
async function probeUpgrade(url, headers, timeoutMs) {
  try {
    const u = new URL(url);
    const http = await import(u.protocol === "wss:" ? "node:https" : "node:http");
    const key = btoa(String.fromCharCode(...globalThis.crypto.getRandomValues(new Uint8Array(16))));
    return await new Promise((resolve) => {
      const req = http.request({
        hostname: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || (u.protocol === "wss:" ? 443 : 80),
        path: u.pathname + u.search,
        method: "GET",
        timeout: timeoutMs,
        headers: {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": key,
          "Sec-WebSocket-Protocol": SUBPROTOCOL,
          ...headers,
        },
      });
      req.on("upgrade", (_res, socket) => {
        socket.destroy();
        resolve({ status: 101 });
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          if (body.length < 500) body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode, body: body.trim().slice(0, 500) }));
        res.on("error", () => resolve({ status: res.statusCode, body: body.trim() }));
      });
      req.on("timeout", () => {
        req.destroy();
        resolve({ status: 0, error: "timeout" });
      });
      req.on("error", (e) => resolve({ status: 0, error: e.message }));
      req.end();
    });
  } catch (e) {
    return { status: 0, error: String(e?.message ?? e) };
  }
}

/**
 * Opens a feed: one logical connection to `url` that reconnects by itself. Resolves once the
 * server's `welcome` arrived; rejects with a TickcastError when the server refuses the client
 * (HTTP 400/401/403/405/426 in Node, a final close code) or nothing connected within
 * `options.connectTimeoutMs`.
 */
export async function connect(url, options = {}) {
  const feed = new Feed(url, options);
  await feed.opened;
  return feed;
}

/** One subscription: an async iterable of messages and `gap` items of the topics it matches. */
export class Subscription {
  #feed;
  #queue = [];
  #waiters = [];
  #error = null;
  #done = false;
  #resolveReady;
  #rejectReady;

  constructor(feed, patterns, options) {
    this.#feed = feed;
    /** The patterns, as given. */
    this.patterns = patterns;
    /** `max_rate`, `snapshot`, `since`, `rewind`, `depth` as given. */
    this.options = options;
    /** Id of the latest `subscribe` sent for it (a new one after every reconnect). */
    this.id = undefined;
    /** The latest `ack` of its `subscribe`. */
    this.ack = undefined;
    /** Resolves with the first `ack`; rejects when the server refused the subscribe. */
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // reported through the iterator as well
  }

  /** Items waiting to be read. */
  get buffered() {
    return this.#queue.length;
  }

  /** Whether the stream has ended (closed, failed or the feed closed). */
  get ended() {
    return this.#done;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The next item (async iterator protocol). */
  next() {
    if (this.#queue.length) return Promise.resolve({ value: this.#queue.shift(), done: false });
    if (this.#error) return Promise.reject(this.#error);
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Called when a `for await` loop is left: unsubscribes. */
  return() {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Unsubscribes and ends the stream (items already buffered are dropped). */
  close() {
    if (this.#done) return;
    this.#feed._unsubscribe(this);
    this._end();
  }

  _acked(ack) {
    this.ack = ack;
    this.#resolveReady(ack);
  }

  _push(item) {
    if (this.#done) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.#queue.push(item);
    const max = this.#feed.options.maxBuffered ?? 100_000;
    if (max > 0 && this.#queue.length > max) this.#conflate();
  }

  // The reader is too slow: keep only the newest tick/bar of each topic, and put a `gap`
  // item in front of it for what was dropped here (cause "client_buffer"). Everything
  // else (snapshots, gaps, status, lagged, errors) is kept.
  #conflate() {
    const newest = new Map();
    this.#queue.forEach((item, i) => {
      if (item.type === "tick" || item.type === "bar") newest.set(item.topic, i);
    });
    const dropped = new Map(); // topic -> first dropped item
    const kept = [];
    this.#queue.forEach((item, i) => {
      if ((item.type === "tick" || item.type === "bar") && newest.get(item.topic) !== i) {
        if (!dropped.has(item.topic)) dropped.set(item.topic, item);
        return;
      }
      const first = dropped.get(item.topic);
      if (first && (item.type === "tick" || item.type === "bar")) {
        kept.push({
          type: "gap",
          topic: item.topic,
          epoch: item.epoch,
          expected: first.seq,
          received: item.seq,
          missed: item.seq - first.seq,
          cause: "client_buffer",
          announced: true,
          lagged: false,
          max_rate: false,
        });
      }
      kept.push(item);
    });
    this.#queue = kept;
  }

  _fail(error) {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#rejectReady(error);
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  _end() {
    if (this.#done) return;
    this.#done = true;
    this.#queue = [];
    this.#rejectReady(new TickcastError("the subscription was closed before the server acknowledged it", { kind: "closed" }));
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }
}

/** A logical connection that reconnects by itself; made by connect(). */
export class Feed {
  #url;
  #headers = {};
  #codec;
  #factory;
  #conn = null; // { ws, opened, welcome }
  #positions = new Map(); // topic -> { epoch, seq } of the last tick/bar/snapshot delivered
  #lagged = new Set(); // topics named by a `lagged` since their last message
  #subs = new Set();
  #bySubscribeId = new Map();
  #requests = new Map(); // id -> { resolve, reject, timer }
  #nextId = 1;
  #backoff = BACKOFF_FIRST_MS;
  #shutdownDelay = null;
  #lastFrameAt = 0;
  #watchdog = 0;
  #retryTimer = 0;
  #connectTimer = 0;
  #closed = false;
  #fatal = null;
  #resolveOpened;
  #rejectOpened;
  #resolveDone;
  #rejectDone;
  #openWaiters = [];

  constructor(url, options = {}) {
    /** The options given to connect(). */
    this.options = { ...options };
    this.#codec = options.codec ?? defaultCodec;
    this.#factory = options.webSocketFactory ?? defaultWebSocketFactory;
    let target = String(url);
    const token = options.token;
    const tokenIn = options.tokenIn ?? (IS_NODE ? "header" : "query");
    if (token && tokenIn === "header") this.#headers.Authorization = `Bearer ${token}`;
    if (token && tokenIn === "query") {
      target += `${target.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
    }
    this.#url = target;
    /** The URL connected to, without a token. */
    this.url = String(url);
    /** The latest `welcome` (undefined while no connection is open). */
    this.welcome = undefined;
    /** Connections opened so far (1 after the first `welcome`). */
    this.connections = 0;
    /** "connecting" | "open" | "reconnecting" | "closed" */
    this.state = "connecting";
    this.opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.opened.catch(() => {});
    /** Resolves when close() was called; rejects with the error that ended the feed. */
    this.done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.done.catch(() => {});
    if (options.since) this.#addPositions(options.since);
    const limit = options.connectTimeoutMs ?? 30_000;
    if (limit > 0) {
      this.#connectTimer = setTimeout(() => {
        this.#fail(new TickcastError(`could not connect to ${this.url} within ${limit} ms (is the server running? the last attempt: ${this.lastError ?? "pending"})`, { kind: "timeout" }));
      }, limit);
    }
    /** Why the last connection attempt failed or ended (for people). */
    this.lastError = undefined;
    this.#open();
  }

  /** The position (`[epoch, seq]`) of every topic seen: pass it as `since` to a later feed. */
  positions() {
    const out = {};
    for (const [topic, p] of this.#positions) out[topic] = [p.epoch, p.seq];
    return out;
  }

  /**
   * Subscribes to `patterns` (a string or an array of them). Returns a Subscription: iterate
   * it with `for await`. Options: max_rate, snapshot, since, rewind, depth.
   */
  subscribe(patterns, options = {}) {
    const list = typeof patterns === "string" ? [patterns] : [...patterns];
    const merged = {
      max_rate: options.max_rate ?? this.options.max_rate,
      snapshot: options.snapshot ?? this.options.snapshot,
      since: options.since,
      rewind: options.rewind ?? this.options.rewind,
      depth: options.depth ?? this.options.depth,
    };
    const sub = new Subscription(this, list, merged);
    if (this.#fatal) {
      sub._fail(this.#fatal);
      return sub;
    }
    if (this.#closed) {
      sub._end();
      return sub;
    }
    this.#subs.add(sub);
    if (options.since) this.#addPositions(options.since);
    const conn = this.#conn;
    if (conn?.welcome) {
      // Hand over the positions of the topics this subscription adds (none of another
      // subscription's, which are being delivered already), then subscribe.
      const others = [...this.#subs].filter((s) => s !== sub);
      const entries = [];
      for (const [topic, p] of this.#positions) {
        if (!list.some((pat) => matches(pat, topic))) continue;
        if (others.some((s) => s.patterns.some((pat) => matches(pat, topic)))) continue;
        entries.push([topic, [p.epoch, p.seq]]);
      }
      this.#sendResume(conn, entries);
      this.#sendSubscribe(conn, sub);
    }
    return sub;
  }

  /**
   * Publishes a trade (needs a publisher token). Resolves with the server's `ack`; rejects
   * with a TickcastError (`code` forbidden, bad_topic, bad_request, ...) when it was refused.
   */
  async publish(topic, price, size, bid = undefined, ask = undefined) {
    return this.#request({ type: "publish", topic, price, size, bid: bid ?? undefined, ask: ask ?? undefined });
  }

  /** The topics that exist (optionally only those matching `pattern`). */
  async list(pattern = undefined) {
    const answer = await this.#request({ type: "list", pattern });
    return answer.topics;
  }

  /** An application-level round trip; resolves with the `pong`. */
  async ping() {
    return this.#request({ type: "ping" });
  }

  /** Closes the feed: every subscription ends, nothing reconnects. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#teardown(new TickcastError("the feed was closed", { kind: "closed" }));
    for (const sub of this.#subs) sub._end();
    this.#subs.clear();
    this.#setState("closed");
    this.#rejectOpened(new TickcastError("the feed was closed before it connected", { kind: "closed" }));
    this.#resolveDone();
  }

  // ---- internals ----

  _unsubscribe(sub) {
    if (!this.#subs.delete(sub)) return;
    if (sub.id !== undefined) this.#bySubscribeId.delete(sub.id);
    // Patterns still wanted by another subscription stay; topics nobody follows are forgotten,
    // so a later subscribe starts fresh instead of resuming from an old position.
    const still = new Set([...this.#subs].flatMap((s) => s.patterns));
    const gone = sub.patterns.filter((p) => !still.has(p));
    const conn = this.#conn;
    if (gone.length && conn?.welcome) this.#send(conn, { type: "unsubscribe", id: this.#nextId++, topics: gone });
    for (const topic of this.#positions.keys()) {
      if (![...this.#subs].some((s) => s.patterns.some((p) => matches(p, topic)))) this.#positions.delete(topic);
    }
  }

  #addPositions(since) {
    for (const [topic, pos] of Object.entries(since)) {
      const [epoch, seq] = pos;
      this.#positions.set(topic, { epoch: toSafe(epoch), seq: toSafe(seq) });
    }
  }

  #setState(state, detail) {
    this.state = state;
    try {
      this.options.onState?.(state, detail);
    } catch {
      /* a hook must not break the connection */
    }
  }

  #open() {
    if (this.#closed || this.#fatal) return;
    let ws;
    try {
      ws = this.#factory(this.#url, [SUBPROTOCOL], this.#headers);
    } catch (e) {
      if (e instanceof TickcastError && e.kind === "environment") return this.#fail(e);
      this.lastError = String(e?.message ?? e);
      return this.#retry(1006);
    }
    const conn = { ws, opened: false, welcome: null, shutdown: false };
    this.#conn = conn;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      conn.opened = true;
      this.#lastFrameAt = Date.now();
    };
    ws.onmessage = (event) => {
      if (this.#conn === conn) this.#onFrame(conn, event.data);
    };
    ws.onclose = (event) => this.#lost(conn, event.code ?? 1006, event.reason ?? "");
    // A failed connection fires error (Node 20: sometimes error only); close may follow.
    ws.onerror = () => this.#lost(conn, 1006, "connection failed");
  }

  #lost(conn, code, reason) {
    if (this.#conn !== conn) return;
    this.#conn = null;
    this.welcome = undefined;
    clearInterval(this.#watchdog);
    conn.ws.onopen = conn.ws.onmessage = conn.ws.onclose = conn.ws.onerror = null;
    try {
      conn.ws.close();
    } catch {
      /* already closed */
    }
    this.#rejectRequests(new TickcastError(`the connection closed (${code}${reason ? ` ${reason}` : ""}) before the server answered; the request may or may not have been carried out`, { kind: "connection", closeCode: code }));
    if (this.#closed || this.#fatal) return;
    this.lastError = `closed with ${code}${reason ? ` (${reason})` : ""}`;
    if (!conn.welcome && !conn.opened && IS_NODE && !this.options.webSocketFactory) {
      // The upgrade failed: find out whether the server refused it for good.
      probeUpgrade(this.#url, this.#headers, 5000).then(({ status, body, error }) => {
        if (this.#closed || this.#fatal) return;
        if (FATAL_HTTP_STATUSES.includes(status)) {
          return this.#fail(new TickcastError(httpMessage(this.url, status, body), { kind: "http", status, reason: body }));
        }
        this.lastError = status ? `HTTP ${status}${body ? ` ${body}` : ""}` : (error ?? this.lastError);
        this.#retry(code);
      });
      return;
    }
    if (closeAdvice(code) === "stop") {
      return this.#fail(new TickcastError(closeMessage(code, reason), { kind: "close", closeCode: code, reason }));
    }
    this.#retry(code);
  }

  #retry(code) {
    let delay;
    if (closeAdvice(code) === "now") delay = 0;
    else if (this.#shutdownDelay !== null) delay = this.#shutdownDelay;
    else {
      delay = this.#backoff * (0.5 + Math.random());
      this.#backoff = Math.min(2 * this.#backoff, this.options.maxBackoffMs ?? BACKOFF_MAX_MS);
    }
    this.#shutdownDelay = null;
    this.#setState(this.connections ? "reconnecting" : "connecting", { code, delayMs: Math.round(delay), lastError: this.lastError });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  #fail(error) {
    if (this.#closed || this.#fatal) return;
    this.#fatal = error;
    this.#teardown(error);
    for (const sub of this.#subs) sub._fail(error);
    this.#subs.clear();
    this.#setState("closed", { error });
    this.#rejectOpened(error);
    this.#rejectDone(error);
  }

  #teardown(error) {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearInterval(this.#watchdog);
    const conn = this.#conn;
    this.#conn = null;
    if (conn) {
      conn.ws.onopen = conn.ws.onmessage = conn.ws.onclose = conn.ws.onerror = null;
      try {
        conn.ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    this.#rejectRequests(error);
    for (const w of this.#openWaiters.splice(0)) w.reject(error);
  }

  #rejectRequests(error) {
    for (const [id, r] of this.#requests) {
      clearTimeout(r.timer);
      r.reject(error);
      this.#requests.delete(id);
    }
  }

  #send(conn, msg) {
    const bytes = this.#codec.encode(msg);
    conn.ws.send(bytes);
    return bytes.length;
  }

  // Positions in pieces of at most 1,000 topics, each within welcome.max_message_bytes.
  #sendResume(conn, entries) {
    const max = Number(conn.welcome?.max_message_bytes ?? 65536);
    const send = (piece) => {
      const msg = { type: "resume", since: Object.fromEntries(piece) };
      if (piece.length > 1 && this.#codec.encode(msg).length > max) {
        const half = Math.ceil(piece.length / 2);
        send(piece.slice(0, half));
        send(piece.slice(half));
        return;
      }
      this.#send(conn, msg);
    };
    for (let i = 0; i < entries.length; i += RESUME_PIECE) send(entries.slice(i, i + RESUME_PIECE));
  }

  #sendSubscribe(conn, sub) {
    const id = this.#nextId++;
    if (sub.id !== undefined) this.#bySubscribeId.delete(sub.id);
    sub.id = id;
    this.#bySubscribeId.set(id, sub);
    const o = sub.options;
    this.#send(conn, {
      type: "subscribe",
      id,
      topics: sub.patterns,
      snapshot: o.snapshot === undefined ? undefined : !!o.snapshot,
      max_rate: o.max_rate,
      rewind: o.rewind,
      depth: o.depth,
    });
  }

  #onFrame(conn, data) {
    this.#lastFrameAt = Date.now();
    let msg;
    try {
      msg = this.#codec.decode(data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : new TextEncoder().encode(String(data)));
    } catch (e) {
      this.lastError = `undecodable frame from the server: ${e.message}`;
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    if (msg.ts !== undefined && typeof msg.ts === "number") msg.ts = BigInt(msg.ts);
    switch (msg.type) {
      case "welcome":
        return this.#onWelcome(conn, msg);
      case "tick":
      case "bar":
      case "snapshot":
        return this.#onData(msg);
      case "status":
        return this.#route(msg.topic, msg);
      case "lagged": {
        for (const topic of msg.topics) this.#lagged.add(topic);
        for (const sub of this.#subs) {
          if (msg.topics.some((t) => sub.patterns.some((p) => matches(p, t)))) sub._push(msg);
        }
        return;
      }
      case "ack": {
        const sub = this.#bySubscribeId.get(msg.id);
        if (sub && msg.op === "subscribe") return sub._acked(msg);
        return this.#answer(msg);
      }
      case "error": {
        const sub = this.#bySubscribeId.get(msg.id);
        if (sub) {
          this.#bySubscribeId.delete(msg.id);
          this.#subs.delete(sub);
          return sub._fail(new TickcastError(`the server refused subscribe ${JSON.stringify(sub.patterns)}: ${msg.code}: ${msg.message}`, { kind: "server", code: msg.code, reason: msg.message }));
        }
        if (msg.id !== undefined && this.#requests.has(msg.id)) return this.#answer(msg);
        // No id (rate_limited, bad_frame): tell every subscription.
        for (const sub of this.#subs) sub._push(msg);
        return;
      }
      case "pong":
      case "topics":
        return this.#answer(msg);
      case "shutdown":
        conn.shutdown = true;
        this.#shutdownDelay = Number(msg.reconnect_after_ms ?? 0) + Math.random() * 1000;
        this.#setState("open", { shutdown: msg });
        return;
      default:
        return; // heartbeat, and types this client does not know
    }
  }

  #onWelcome(conn, msg) {
    conn.welcome = msg;
    this.welcome = msg;
    this.connections++;
    this.#backoff = BACKOFF_FIRST_MS;
    this.#shutdownDelay = null;
    clearTimeout(this.#connectTimer);
    // Every position of a topic some subscription follows, then every subscribe.
    const entries = [];
    for (const [topic, p] of this.#positions) {
      if ([...this.#subs].some((s) => s.patterns.some((pat) => matches(pat, topic)))) entries.push([topic, [p.epoch, p.seq]]);
    }
    this.#sendResume(conn, entries);
    for (const sub of this.#subs) this.#sendSubscribe(conn, sub);
    // Liveness: the server speaks at least every heartbeat_ms; 3 of them silent = dead.
    const heartbeat = Number(msg.heartbeat_ms) || 1000;
    const limit = this.options.livenessTimeoutMs ?? 3 * heartbeat;
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      if (this.#conn === conn && Date.now() - this.#lastFrameAt > limit) {
        this.#lost(conn, 4100, `nothing received for ${limit} ms`);
      }
    }, Math.max(50, Math.min(heartbeat, 1000)));
    this.#setState("open", { welcome: msg });
    for (const w of this.#openWaiters.splice(0)) w.resolve(conn);
    this.#resolveOpened(this);
  }

  #onData(msg) {
    const topic = msg.topic;
    msg.seq = toSafe(msg.seq);
    if (msg.epoch !== undefined) msg.epoch = toSafe(msg.epoch);
    const last = this.#positions.get(topic);
    // The topic's epoch: a snapshot and a bar carry it; a tick keeps its topic's (section 14).
    // A topic never seen (subscribed with snapshot: false) has the server's, right when standalone.
    const epoch = msg.epoch ?? last?.epoch ?? toSafe(this.welcome?.epoch);
    msg.epoch = epoch;
    const seq = msg.seq;
    let gap = null;
    if (last && last.epoch !== epoch) {
      gap = { expected: null, missed: null, cause: "new_epoch", previous_epoch: last.epoch };
    } else if (last && seq <= last.seq) {
      // Already delivered: drop it. A snapshot is the topic's state: delivered, position kept.
      if (msg.type === "snapshot") this.#route(topic, msg);
      return;
    } else if (last && seq !== last.seq + 1) {
      gap = { expected: last.seq + 1, missed: seq - last.seq - 1, cause: msg.recovered === false ? "not_recovered" : "seq_jump" };
    } else if (!last && msg.recovered === false) {
      gap = { expected: null, missed: null, cause: "not_recovered" };
    }
    if (gap) {
      const lagged = this.#lagged.has(topic);
      const maxRate = [...this.#subs].some((s) => s.options.max_rate && s.patterns.some((p) => matches(p, topic)));
      this.#route(topic, {
        type: "gap",
        topic,
        epoch,
        expected: gap.expected,
        received: seq,
        missed: gap.missed,
        cause: gap.cause,
        ...(gap.previous_epoch !== undefined ? { previous_epoch: gap.previous_epoch } : {}),
        recovered: msg.recovered === false ? false : undefined,
        lagged,
        max_rate: maxRate,
        announced: gap.cause !== "seq_jump" || lagged || maxRate,
      });
    }
    this.#lagged.delete(topic);
    this.#positions.set(topic, { epoch, seq });
    this.#route(topic, msg);
  }

  #route(topic, item) {
    for (const sub of this.#subs) {
      if (sub.patterns.some((p) => matches(p, topic))) sub._push(item);
    }
  }

  #answer(msg) {
    const r = this.#requests.get(msg.id);
    if (!r) return;
    this.#requests.delete(msg.id);
    clearTimeout(r.timer);
    if (msg.type === "error") {
      r.reject(new TickcastError(`the server refused ${r.what}: ${msg.code}: ${msg.message}`, { kind: "server", code: msg.code, reason: msg.message }));
    } else {
      r.resolve(msg);
    }
  }

  async #whenOpen() {
    if (this.#fatal) throw this.#fatal;
    if (this.#closed) throw new TickcastError("the feed is closed", { kind: "closed" });
    if (this.#conn?.welcome) return this.#conn;
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }

  async #request(msg) {
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    const what = msg.type === "publish" ? `publish on ${msg.topic}` : msg.type;
    let waited;
    const conn = await Promise.race([
      this.#whenOpen(),
      new Promise((_, reject) => {
        waited = setTimeout(() => reject(new TickcastError(`${what}: no connection within ${timeoutMs} ms`, { kind: "timeout" })), timeoutMs);
      }),
    ]).finally(() => clearTimeout(waited));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(id);
        reject(new TickcastError(`${what}: no answer within ${timeoutMs} ms`, { kind: "timeout" }));
      }, timeoutMs);
      this.#requests.set(id, { resolve, reject, timer, what });
      this.#send(conn, { ...msg, id });
    });
  }
}

function toSafe(v) {
  if (typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}
