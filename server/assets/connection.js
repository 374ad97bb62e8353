// The page's WebSocket to this host's /ws (tickcast.v1.msgpack): connect, subscribe with
// `since`, pattern changes, heartbeats, and reconnecting with backoff. It knows the
// protocol, not the page: everything it learns goes out through the hooks given to it.
//
//   welcome -> subscribe {topics, since?}; ack; snapshot per topic (prev_close, OHLC, epoch)
//   or replayed ticks when `since` could be honoured; then live tick / status / bar.
//   Pattern change: subscribe to the new patterns first and, once acked, unsubscribe the
//   patterns no longer wanted (no gap, and nothing changes if the server rejects them).
//   Reconnect: exponential backoff with jitter, close codes 4000-4099 = do not reconnect,
//   4200-4299 = reconnect now, `shutdown.reconnect_after_ms` is honoured; then subscribe
//   again with the `since` positions the page gives (epoch kept as BigInt, exact), so the
//   server replays what we missed or sends a fresh snapshot.
//   Heartbeats: protocol pings every min(5 s, heartbeat_ms) (also give rtt and the clock
//   offset); 3 heartbeat intervals of silence = dead connection, reconnect.
import { decode, encode, toNumber } from "./msgpack.js";
import { nowWallMs } from "./clock.js";

export const SUBPROTOCOL = "tickcast.v1.msgpack";
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 5000;

// Servers that require a token: open the page as /?token=T (browsers cannot set headers
// on a WebSocket, so the token travels as the `token` query parameter).
const TOKEN = new URLSearchParams(location.search).get("token");

/** This host's WebSocket endpoint (with `?token=` when the page has one). */
export function wsUrl() {
  const base = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws";
  return TOKEN ? base + "?token=" + encodeURIComponent(TOKEN) : base;
}

/**
 * One logical connection that reconnects by itself. `options`:
 *   wanted()            the patterns to subscribe to after every welcome
 *   since(patterns)     `since` positions for a subscribe, or undefined
 *   maxRate             optional `max_rate` for subscribes
 *   hooks.state(state, text)        connecting | live | reconnecting | closed, and a text for humans
 *   hooks.message(m, recvWallMs)    every decoded message, after the connection handled it
 *   hooks.badFrame(error)           a frame that did not decode
 *   hooks.subscribed(patterns)      the latest subscribe was acked (leftovers unsubscribed)
 *   hooks.rejected(error, subscriptions)  the server refused the latest subscribe, changed nothing
 *   hooks.roundTrip(sentWallMs, recvWallMs, serverTsMs)  a pong
 *   hooks.disconnected()            the socket is gone (a reconnect may follow)
 *   hooks.retryScheduled()          a reconnect attempt is scheduled
 */
export class Connection {
  #ws = null;
  #status = "connecting";
  #attempt = 0; // reconnect attempts since the last welcome
  #retryAt = 0;
  #retryTimer = 0;
  #countdownTimer = 0;
  #reconnectAfterMs = 0; // from a `shutdown` message
  #welcome = null;
  #lastFrameAt = 0;
  #pingTimer = 0;
  #watchdog = 0;
  #nextId = 1;
  #latestSubscribeId = 0;
  #pings = new Map(); // id -> sent wall ms
  #subscriptions = []; // as the server last acked them

  constructor({ wanted, since, maxRate, hooks }) {
    this.wanted = wanted;
    this.since = since;
    this.maxRate = maxRate;
    this.hooks = hooks;
  }

  /** Subscriptions as the server last acked them. */
  get subscriptions() { return this.#subscriptions; }

  /** Opens the socket (first connect, or a reconnect when its time has come). */
  connect() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#countdownTimer);
    if (this.#attempt === 0) this.#setStatus("connecting", "Connecting…");
    else this.#setStatus("reconnecting", `Reconnecting… (attempt ${this.#attempt})`);
    let ws;
    try {
      ws = new WebSocket(wsUrl(), SUBPROTOCOL);
    } catch (e) {
      console.error("tickcast: cannot open WebSocket", e);
      this.#scheduleReconnect(1006);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#lastFrameAt = performance.now();
    ws.onmessage = (ev) => this.#onFrame(ev.data);
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#disconnected(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // onclose follows with the details we need
  }

  /** Waiting out a backoff makes no sense once the network is back or the user looks again. */
  reconnectNow() {
    if (this.#status === "reconnecting" && !this.#ws) this.connect();
  }

  /** Drops the connection as a network blip would; it reconnects and resumes with `since`. */
  drop() {
    this.#ws?.close(1000, "reconnect requested");
  }

  /** Subscribes to `patterns` (the new wanted set); the rest is unsubscribed once acked. */
  subscribe(patterns) {
    const id = this.#nextId++;
    this.#latestSubscribeId = id;
    // Positions first, in pieces that fit any message size limit (PROTOCOL.md §6 resume),
    // so every topic we follow resumes however many there are.
    const positions = Object.entries(this.since(patterns) ?? {});
    for (let i = 0; i < positions.length; i += 1000) {
      this.#send({ type: "resume", since: Object.fromEntries(positions.slice(i, i + 1000)) });
    }
    this.#send({ type: "subscribe", id, topics: patterns, max_rate: this.maxRate });
  }

  #setStatus(next, text) {
    this.#status = next;
    this.hooks.state(next, text);
  }

  #send(msg) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encode(msg));
    return true;
  }

  #onFrame(data) {
    const recvMs = nowWallMs();
    this.#lastFrameAt = performance.now();
    let m;
    try {
      m = decode(data);
    } catch (e) {
      this.hooks.badFrame(e);
      return;
    }
    switch (m?.type) {
      case "welcome": this.#onWelcome(m); break;
      case "ack": this.#onAck(m); break;
      case "error": this.#onError(m); break;
      case "pong": this.#onPong(m, recvMs); break;
      case "shutdown":
        this.#reconnectAfterMs = toNumber(m.reconnect_after_ms) || 0;
        this.#setStatus("reconnecting", `Server restarting: ${m.reason || "shutdown"}`);
        break;
      default: break;
    }
    this.hooks.message(m, recvMs);
  }

  #onWelcome(m) {
    this.#welcome = m;
    this.#attempt = 0;
    this.#reconnectAfterMs = 0;
    this.#pings.clear();
    this.#setStatus("live", "Live");
    this.subscribe(this.wanted());
    this.#startTimers(toNumber(m.heartbeat_ms) || 1000);
  }

  #onAck(m) {
    this.#subscriptions = m.subscriptions ?? this.#subscriptions;
    if (m.op === "subscribe" && m.id === this.#latestSubscribeId) {
      // Drop whatever the server still has that we no longer want (old patterns).
      const wanted = this.wanted();
      const extra = this.#subscriptions.filter((p) => !wanted.includes(p));
      if (extra.length) this.#send({ type: "unsubscribe", id: this.#nextId++, topics: extra });
      this.hooks.subscribed(wanted);
    }
  }

  #onError(m) {
    console.warn("tickcast: server error", m);
    if (m.id !== undefined && m.id === this.#latestSubscribeId) this.hooks.rejected(m, this.#subscriptions);
  }

  #onPong(m, recvMs) {
    const sent = this.#pings.get(m.id);
    if (sent === undefined) return;
    this.#pings.delete(m.id);
    this.hooks.roundTrip(sent, recvMs, toNumber(m.ts) / 1e6);
  }

  #startTimers(heartbeatMs) {
    this.#stopTimers();
    const ping = () => {
      const id = this.#nextId++;
      if (this.#send({ type: "ping", id })) this.#pings.set(id, nowWallMs());
      if (this.#pings.size > 16) this.#pings.delete(this.#pings.keys().next().value);
    };
    ping();
    // at least once per heartbeat interval: the server closes peers silent for 3 of them
    // (4100), and a page cannot send WebSocket-level pings itself
    this.#pingTimer = setInterval(ping, Math.min(PING_EVERY_MS, heartbeatMs));
    // The server speaks at least every heartbeat_ms; silence for 3 of them means the
    // connection is dead even if TCP has not noticed yet.
    const silentLimit = Math.max(3 * heartbeatMs, 3000);
    this.#watchdog = setInterval(() => {
      if (performance.now() - this.#lastFrameAt > silentLimit) {
        console.warn(`tickcast: nothing heard for ${silentLimit} ms, reconnecting`);
        const ws = this.#ws;
        this.#ws = null;
        try { ws?.close(); } catch { /* already closing */ }
        this.#disconnected(1006, "idle");
      }
    }, Math.min(1000, heartbeatMs));
  }

  #stopTimers() {
    clearInterval(this.#pingTimer);
    clearInterval(this.#watchdog);
  }

  #disconnected(code, reason) {
    this.#stopTimers();
    this.hooks.disconnected();
    this.#ws = null;
    this.#welcome = null;
    if (code >= 4000 && code <= 4099) {
      this.#setStatus("closed", `Disconnected: ${reason || `code ${code}`}`);
      return;
    }
    this.#scheduleReconnect(code);
  }

  #scheduleReconnect(code) {
    let delay;
    if (code >= 4200 && code <= 4299) {
      delay = 50 + Math.random() * 250;
    } else {
      // exponential backoff with "equal jitter": half fixed, half random
      const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.#attempt);
      delay = cap / 2 + Math.random() * (cap / 2);
    }
    if (this.#reconnectAfterMs) delay = Math.max(delay, this.#reconnectAfterMs * (1 + Math.random() * 0.5));
    this.#reconnectAfterMs = 0;
    this.#attempt++;
    this.#retryAt = performance.now() + delay;
    this.#retryTimer = setTimeout(() => this.connect(), delay);
    const countdown = () => {
      const left = Math.max(0, this.#retryAt - performance.now());
      this.#setStatus("reconnecting", `Reconnecting in ${Math.ceil(left / 1000)}s`);
      if (left > 0) this.#countdownTimer = setTimeout(countdown, Math.min(250, left));
    };
    countdown();
    this.hooks.retryScheduled();
  }
}
