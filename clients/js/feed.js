// The feed: one logical connection to a tickcast server and its supervisor. It opens the
// WebSocket, waits for `welcome`, hands positions over (resume) and subscribes again after
// every reconnect, watches liveness (PROTOCOL.md §9), reconnects with backoff and jitter or
// stops for good (§12), dispatches each message, and sends requests (publish, list, ping;
// history goes over HTTP: history.js). Positions, order books and gap verdicts live in
// recovery.js (books in books.js), the subscriptions and their subscribe messages in
// routing.js, the stream in subscription.js, pending requests in requests.js, error texts
// in errors.js.

import { TickcastError, FATAL_HTTP_STATUSES, closeAdvice, closeMessage, httpMessage } from "./errors.js";
import { SUBPROTOCOL, defaultCodec, frameBytes, asMessage } from "./messages.js";
import { history } from "./history.js";
import { Recovery, resumePieces } from "./recovery.js";
import { Requests } from "./requests.js";
import { Router } from "./routing.js";
import { Subscription } from "./subscription.js";
import { IS_NODE, defaultWebSocketFactory, probeUpgrade } from "./transport.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;

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

/** A logical connection that reconnects by itself; made by connect(). */
export class Feed {
  #url;
  #headers = {};
  #codec;
  #factory;
  #conn = null; // { ws, opened, welcome }
  #recovery = new Recovery();
  #nextId = 1;
  #router = new Router(this.#recovery, () => this.#nextId++);
  #requests = new Requests();
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
  #resyncTimers = new Map(); // topic -> timer of a book resync waiting out its delay

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
    /** The connection's patterns as the server last acknowledged them (empty while disconnected). */
    this.subscriptions = [];
    /** Counters over the feed's life: frames received, frames that did not decode, duplicates dropped, books asked for again. */
    this.stats = { frames: 0, undecodable: 0, duplicates: 0, bookResyncs: 0 };
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
    if (options.since) this.#recovery.addPositions(options.since);
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
    return this.#recovery.positions();
  }

  /**
   * The verified order book of `topic` (`book.SYM`) as it is now, an OrderBook (a copy), or
   * undefined when no subscription follows it or its first `book` has not come yet.
   */
  book(topic) {
    return this.#recovery.book(topic);
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
    if (options.since) this.#recovery.addPositions(options.since);
    this.#router.add(sub);
    return sub;
  }

  /**
   * Publishes a trade (needs a publisher token). Resolves with the server's `ack`; rejects
   * with a TickcastError (`code` forbidden, bad_topic, bad_request, ...) when it was refused.
   */
  async publish(topic, price, size, bid = undefined, ask = undefined) {
    return this.#request({ type: "publish", topic, price, size, bid: bid ?? undefined, ask: ask ?? undefined });
  }

  /**
   * The history of one `topic` from the server's `GET /history/{topic}`, over HTTP (fetch)
   * with this feed's token as `Authorization: Bearer`: `{ topic, epoch, messages }`, the
   * latest `limit` messages with `from <= ts < to`, oldest first, typed as the stream's. Rejects
   * with a TickcastError (`kind` "http", `status`, `code`) when refused.
   */
  async history(topic, options = {}) {
    return history(this.url, topic, {
      token: this.options.token,
      timeoutMs: this.options.requestTimeoutMs,
      codec: this.#codec,
      ...options,
    });
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

  /**
   * Reconnects now: the open connection (or the attempt under way) is closed and a new one
   * opened at once, which resumes every topic where it stopped; while waiting out a backoff,
   * the wait ends. E.g. when the network is back. Does nothing once the feed is closed.
   */
  reconnect() {
    if (this.#closed || this.#fatal) return;
    clearTimeout(this.#retryTimer);
    this.lastError = "reconnect requested";
    if (this.#conn) this.#detach(this.#conn, `the connection was closed to reconnect`, [1000, "reconnect requested"]);
    this.#shutdownDelay = null;
    this.#setState(this.connections ? "reconnecting" : "connecting", { code: 1000, delayMs: 0, lastError: this.lastError });
    this.#open();
  }

  /** Closes the feed: every subscription ends, nothing reconnects. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#teardown(new TickcastError("the feed was closed", { kind: "closed" }));
    this.#router.endAll(null);
    this.#setState("closed");
    this.#rejectOpened(new TickcastError("the feed was closed before it connected", { kind: "closed" }));
    this.#resolveDone();
  }

  // ---- internals ----

  _unsubscribe(sub) {
    this.#router.remove(sub);
  }

  _changePatterns(sub, patterns) {
    return this.#router.change(sub, patterns);
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

  // Lets go of connection `conn` (closing it with `closeArgs`); its requests fail with `why`.
  #detach(conn, why, closeArgs = []) {
    this.#conn = null;
    this.welcome = undefined;
    this.subscriptions = [];
    clearInterval(this.#watchdog);
    conn.ws.onopen = conn.ws.onmessage = conn.ws.onclose = conn.ws.onerror = null;
    try {
      conn.ws.close(...closeArgs);
    } catch {
      /* already closed */
    }
    this.#requests.rejectAll(new TickcastError(`${why} before the server answered; the request may or may not have been carried out`, { kind: "connection", closeCode: closeArgs[0] }));
    this.#router.disconnected();
  }

  #lost(conn, code, reason) {
    if (this.#conn !== conn) return;
    this.#detach(conn, `the connection closed (${code}${reason ? ` ${reason}` : ""})`);
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
    this.#router.endAll(error);
    this.#setState("closed", { error });
    this.#rejectOpened(error);
    this.#rejectDone(error);
  }

  #teardown(error) {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearInterval(this.#watchdog);
    for (const timer of this.#resyncTimers.values()) clearTimeout(timer);
    this.#resyncTimers.clear();
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
    this.#requests.rejectAll(error);
    for (const w of this.#openWaiters.splice(0)) w.reject(error);
  }

  #send(conn, msg) {
    const bytes = this.#codec.encode(msg);
    conn.ws.send(bytes);
    return bytes.length;
  }

  // Positions in pieces of at most 1,000 topics, each within welcome.max_message_bytes.
  #sendResume(conn, entries) {
    const max = Number(conn.welcome?.max_message_bytes ?? 65536);
    for (const msg of resumePieces(entries, (m) => this.#codec.encode(m), max)) this.#send(conn, msg);
  }

  #onFrame(conn, data) {
    this.#lastFrameAt = Date.now();
    this.stats.frames++;
    let msg;
    try {
      msg = this.#codec.decode(frameBytes(data));
    } catch (e) {
      this.stats.undecodable++;
      this.lastError = `undecodable frame from the server: ${e.message}`;
      return;
    }
    msg = asMessage(msg);
    if (!msg) return;
    switch (msg.type) {
      case "welcome":
        return this.#onWelcome(conn, msg);
      case "tick":
      case "bar":
      case "snapshot":
        return this.#onData(msg);
      case "book":
      case "book_update":
        return this.#onBook(msg);
      case "status":
        if (this.#router.stale(msg.topic)) return;
        return this.#router.route(msg.topic, msg);
      case "lagged":
        this.#recovery.markLagged(msg.topics);
        return this.#router.routeLagged(msg);
      case "ack":
        if (Array.isArray(msg.subscriptions)) {
          this.subscriptions = msg.subscriptions;
          this.#router.serverPatterns(msg.subscriptions);
        }
        if (msg.op === "unsubscribe") this.#router.unsubscribed(msg);
        if (msg.op === "subscribe" && this.#router.acked(msg)) return;
        return this.#requests.answer(msg);
      case "error":
        if (this.#router.refused(msg)) return;
        if (msg.id !== undefined && this.#requests.has(msg.id)) return this.#requests.answer(msg);
        // No id (rate_limited, bad_frame): tell every subscription.
        return this.#router.broadcast(msg);
      case "pong":
      case "topics":
        return this.#requests.answer(msg);
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
    this.#router.connected({ send: (m) => this.#send(conn, m), resume: (entries) => this.#sendResume(conn, entries) });
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

  // A tick, bar or snapshot: recovery.js decides (duplicate, gap first, or in order). A message
  // of a topic nobody follows, or of patterns being unsubscribed (in flight before the
  // server took the unsubscribe), leaves no position behind.
  #onData(msg) {
    if (!this.#router.followed(msg.topic) || this.#router.stale(msg.topic)) return;
    const { gap, deliver } = this.#recovery.accept(msg, this.welcome?.epoch, (topic) => this.#router.maxRate(topic));
    if (gap) this.#router.route(msg.topic, gap);
    if (deliver) this.#router.route(msg.topic, msg);
    else this.stats.duplicates++;
  }

  // A book or book_update: books.js verifies it against the topic's book (chained by
  // prev_seq, checked by checksum); a wrong book is announced (a `gap` item) and asked for
  // again, at once or after a delay while fresh books keep failing.
  #onBook(msg) {
    if (!this.#router.followed(msg.topic) || this.#router.stale(msg.topic)) return;
    const { gap, deliver, resync, duplicate } = this.#recovery.acceptBook(msg);
    if (gap) this.#router.route(msg.topic, gap);
    if (deliver) this.#router.route(msg.topic, msg);
    if (duplicate) this.stats.duplicates++;
    if (resync === null) return;
    this.stats.bookResyncs++;
    const topic = msg.topic;
    clearTimeout(this.#resyncTimers.get(topic));
    const run = () => {
      this.#resyncTimers.delete(topic);
      if (!this.#closed && !this.#fatal && this.#router.followed(topic)) this.#router.resync(topic);
    };
    if (resync > 0) this.#resyncTimers.set(topic, setTimeout(run, resync));
    else run();
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
    const answer = this.#requests.wait(id, what, timeoutMs);
    this.#send(conn, { ...msg, id });
    return answer;
  }
}
