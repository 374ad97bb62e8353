// The page's connection to this host's /ws, made with the JavaScript client library
// (clients/js/, served next to the page: /index.js and the modules it imports). The library
// does the protocol: it reconnects with backoff, resumes every topic where it stopped, drops
// duplicates and puts a `gap` item in the stream for every loss (PROTOCOL.md §8, §13, §14).
// This module adds what the page needs around it: one Subscription that follows the Topics
// box (each topic starting with its last `rewind` trades: history, then live, no seam), the
// status line's words (with a countdown to the next attempt), and a ping every
// heartbeat (at most every 5 s) for the round trip and the server clock. It knows the library,
// not the page: what it learns goes out through the hooks given to it.
import { Feed } from "./index.js";
import { nowWallMs } from "./clock.js";

const MAX_BACKOFF_MS = 15000;
const PING_EVERY_MS = 5000;

const params = new URLSearchParams(location.search);
// Servers that require a token: open the page as /?token=T (browsers cannot set headers on a
// WebSocket, so the library sends it as the `token` query parameter).
const TOKEN = params.get("token") || undefined;
/** `?max_rate=N`: ask the server to conflate to at most N messages/s per topic. */
const MAX_RATE = Number(params.get("max_rate")) || undefined;

/** This host's WebSocket endpoint (the token, if any, is added by the library). */
export const WS_URL = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws";

/** A Feed to this host with the page's token; `options` as the library's connect() takes them. */
export function openFeed(options = {}) {
  return new Feed(WS_URL, { token: TOKEN, ...options });
}

/**
 * The page's one live feed and subscription, from `patterns` on. `hooks`:
 *   state(state, text)           connecting | live | reconnecting | closed, and words for people
 *   welcome(welcome)             a connection is open (the items of the stream follow)
 *   disconnected()               it is gone (a reconnect follows unless the state is closed)
 *   retryScheduled()             a reconnect attempt is scheduled
 *   item(item, recvWallMs)       every item of the stream: tick, snapshot, bar, status, lagged, gap, error
 *   subscribed(patterns)         the server acknowledged these patterns
 *   rejected(error, patterns)    it refused new patterns (error.code); the stream follows `patterns`
 *   roundTrip(sentWallMs, recvWallMs, serverTsMs)  a ping answered
 */
export class Live {
  #hooks;
  #feed;
  #sub = null;
  #open = false;
  #attempts = 0; // reconnect attempts since the last connection
  #retryAt = 0; // performance.now() of the next attempt while one is scheduled
  #countdown = 0;
  #pinger = 0;
  #rewind;

  /** `rewind`: the history each topic of the subscription starts with (its last N messages). */
  constructor(patterns, hooks, { rewind } = {}) {
    this.#hooks = hooks;
    this.#rewind = rewind;
    hooks.state("connecting", "Connecting…");
    this.#feed = openFeed({
      max_rate: MAX_RATE,
      connectTimeoutMs: 0, // a page waits for its server as long as it is open
      maxBackoffMs: MAX_BACKOFF_MS,
      onState: (state, detail) => this.#onState(state, detail ?? {}),
    });
    this.#follow(patterns);
  }

  /** The library's Feed (stats, subscriptions, welcome). */
  get feed() {
    return this.#feed;
  }

  /** Follows `patterns` from now on: no gap for topics they share with the old ones. */
  setPatterns(patterns) {
    const sub = this.#sub;
    if (sub.ended) return this.#follow(patterns); // the previous subscribe was refused
    sub.setPatterns(patterns).then(
      () => this.#hooks.subscribed(patterns),
      (e) => e.kind === "server" && this.#hooks.rejected(e, sub.patterns),
    );
  }

  /** Ends a backoff wait now (the network is back, or the page is looked at again). */
  reconnectNow() {
    if (this.#retryAt > performance.now()) this.#feed.reconnect();
  }

  /** Drops the connection as a network blip would; the feed reconnects and resumes. */
  drop() {
    this.#feed.reconnect();
  }

  #follow(patterns) {
    const sub = this.#feed.subscribe(patterns, { rewind: this.#rewind });
    this.#sub = sub;
    sub.ready.then(() => this.#hooks.subscribed(patterns), () => {});
    this.#read(sub);
  }

  async #read(sub) {
    try {
      for await (const item of sub) this.#hooks.item(item, nowWallMs());
    } catch (e) {
      // A refused subscribe ends only this stream (the next patterns subscribe anew); an
      // error that ended the feed is told by onState.
      if (e.kind === "server") this.#hooks.rejected(e, []);
    }
  }

  #onState(state, detail) {
    clearTimeout(this.#countdown);
    if (state === "open" && detail.shutdown) {
      this.#hooks.state("reconnecting", `Server restarting: ${detail.shutdown.reason || "shutdown"}`);
    } else if (state === "open") {
      this.#open = true;
      this.#attempts = 0;
      this.#retryAt = 0;
      this.#hooks.welcome(detail.welcome);
      this.#hooks.state("live", "Live");
      this.#startPings(Number(detail.welcome.heartbeat_ms) || 1000);
    } else if (state === "closed") {
      this.#left();
      this.#hooks.state("closed", `Disconnected: ${detail.error?.message ?? "closed"}`);
    } else {
      // connecting or reconnecting: the next attempt in detail.delayMs
      this.#left();
      this.#attempts++;
      this.#retryAt = performance.now() + (detail.delayMs ?? 0);
      this.#hooks.retryScheduled();
      this.#showCountdown();
    }
  }

  #showCountdown() {
    const left = this.#retryAt - performance.now();
    if (left <= 0) {
      this.#hooks.state("reconnecting", `Reconnecting… (attempt ${this.#attempts})`);
      return;
    }
    this.#hooks.state("reconnecting", `Reconnecting in ${Math.ceil(left / 1000)}s`);
    this.#countdown = setTimeout(() => this.#showCountdown(), Math.min(250, left));
  }

  #left() {
    clearInterval(this.#pinger);
    if (!this.#open) return;
    this.#open = false;
    this.#hooks.disconnected();
  }

  // Protocol pings: the round trip shown, and the samples of the server clock estimate.
  #startPings(heartbeatMs) {
    clearInterval(this.#pinger);
    const ping = () => {
      if (this.#feed.state !== "open") return;
      const sent = nowWallMs();
      this.#feed.ping().then((pong) => this.#hooks.roundTrip(sent, nowWallMs(), Number(pong.ts) / 1e6), () => {});
    };
    ping();
    this.#pinger = setInterval(ping, Math.min(PING_EVERY_MS, heartbeatMs));
  }
}
