// Type declarations of the tickcast JavaScript client (index.js). They are its API
// reference: `npx typedoc index.d.ts` renders them as HTML (see README.md).

import type { BookMessage, BookUpdate, Depth, OrderBook } from "./orderbook.js";

// Order books (orderbook.d.ts): the OrderBook class and the book items.
export { OrderBook, DEPTHS, CHECKSUM_LEVELS, type Level, type Depth, type BookMessage, type BookUpdate } from "./orderbook.js";

/** The subprotocol this client offers: MessagePack frames (PROTOCOL.md §2). */
export declare const SUBPROTOCOL: "tickcast.v1.msgpack";

/** HTTP answers to the upgrade after which the feed stops: 400, 401, 403, 405, 426. */
export declare const FATAL_HTTP_STATUSES: readonly number[];

/** `[epoch, seq]`: the position of the last tick or bar you have of a topic. */
export type Position = [epoch: number | bigint, seq: number | bigint];

/** Positions by topic, as in `subscribe.since` (PROTOCOL.md §6). */
export type Positions = Record<string, Position>;

/** A `tick` (PROTOCOL.md §7): one trade on `ticks.SYM`. */
export interface Tick {
  type: "tick";
  topic: string;
  /** Position in the topic (exact as a Number below 2^53). */
  seq: number;
  /** The topic's epoch: filled in by this library from the topic's snapshot (ticks carry none). */
  epoch: number;
  /** Nanoseconds since 1970 (beyond 2^53: a BigInt). */
  ts: bigint;
  symbol: string;
  price: number;
  size: number;
  bid: number;
  ask: number;
  volume: number;
}

/** A `snapshot`: the latest state of a trades topic; starts every topic's history. */
export interface Snapshot extends Omit<Tick, "type"> {
  type: "snapshot";
  /** `false`: a resume could not be served and this snapshot replaces what was missed. */
  recovered?: boolean;
  open: number;
  high: number;
  low: number;
  prev_close: number;
  state?: "open" | "halted" | "closed" | string;
}

/** A `bar` on `bars.1s.SYM`, `bars.1m.SYM`, `bars.5m.SYM`, `bars.15m.SYM` or `bars.1h.SYM`. */
export interface Bar {
  type: "bar";
  topic: string;
  seq: number;
  epoch: number;
  /** Start of the interval, ns since 1970. */
  ts: bigint;
  interval_ms: number;
  symbol: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trades: number;
  recovered?: boolean;
}

/** The market state of a symbol changed (no `seq`). */
export interface Status {
  type: "status";
  topic: string;
  state: "open" | "halted" | "closed" | string;
  ts: bigint;
  /** status has no seq (declared so that `msg.seq` type-checks on any item) */
  seq?: undefined;
}

/** The server conflated this client's queue (PROTOCOL.md §10); seq jumps (gap items) follow. */
export interface Lagged {
  type: "lagged";
  topics: string[];
  dropped: number;
  /** lagged names `topics` instead (declared so that `msg.topic` type-checks on any item) */
  topic?: undefined;
  seq?: undefined;
}

/** An `error` without a request id (`rate_limited`, `bad_frame`), given to every subscription. */
export interface ServerError {
  type: "error";
  id?: number | string;
  code: string;
  message: string;
  topic?: undefined;
  seq?: undefined;
}

/** CRC-32 (IEEE 802.3, zlib's) of a string (as UTF-8) or bytes. */
export declare function crc32(data: string | Uint8Array): number;

/** Why messages of a topic are missing. */
export type GapCause =
  /** the server said so: `recovered: false` (a resume it could not serve, a loss upstream) */
  | "not_recovered"
  /** the topic restarted with a new epoch (e.g. the server restarted): the count is unknown */
  | "new_epoch"
  /** the seqs jumped: after `lagged`, or under `max_rate` (see the flags) */
  | "seq_jump"
  /** this library dropped them: the reader fell more than `maxBuffered` items behind */
  | "client_buffer"
  /**
   * a book topic's update did not follow its book (`reason` "prev_seq") or left a book whose
   * checksum differs (`reason` "checksum"): the update is not delivered, the library asks for
   * a fresh `book` (it unsubscribes and subscribes the topic's patterns again) and drops the
   * topic's updates until it comes
   */
  | "book_resync";

/**
 * A loss, delivered in the stream right before the message that reveals it. Every message of a
 * topic is delivered exactly once unless a gap item for the topic says otherwise.
 */
export interface Gap {
  type: "gap";
  topic: string;
  /** The epoch of the message that follows. */
  epoch: number;
  /** The first seq missed (null when unknown: a new epoch, any gap of a book topic). */
  expected: number | null;
  /** The seq of the message that follows. */
  received: number;
  /** How many messages were missed (null when unknown). */
  missed: number | null;
  cause: GapCause;
  /** Gap items have no seq of their own (see expected/received). */
  seq?: undefined;
  /** The topic's epoch before (cause "new_epoch"). */
  previous_epoch?: number;
  /** `false` when the server marked the message `recovered: false`. */
  recovered?: false;
  /** A `lagged` naming this topic came before it. */
  lagged: boolean;
  /** A subscription matching this topic has `max_rate`: jumps are expected. */
  max_rate: boolean;
  /** Whether the loss has a reason (anything but a seq jump nobody announced, or a book found wrong). */
  announced: boolean;
  /** "book_resync": what was wrong, the checksum or the prev_seq chain. */
  reason?: "checksum" | "prev_seq";
  /** "book_resync" of an update: its prev_seq. */
  prev_seq?: number;
  /** "book_resync" of an update: the seq of the book it should have followed. */
  book_seq?: number;
}

/** Everything a subscription's stream yields. */
export type Item = Tick | Snapshot | Bar | BookMessage | BookUpdate | Status | Lagged | Gap | ServerError;

export interface Welcome {
  type: "welcome";
  protocol: number;
  server: string;
  epoch: number;
  heartbeat_ms: number;
  max_message_bytes: number;
  max_subscriptions: number;
  ts: bigint;
}

export interface Ack {
  type: "ack";
  id?: number | string;
  op: "subscribe" | "resume" | "unsubscribe" | "publish";
  topics: string[];
  subscriptions: string[];
}

export interface Pong {
  type: "pong";
  id?: number | string;
  ts: bigint;
}

/** Options of one subscription (override the feed's). */
export interface SubscribeOptions {
  /** At most this many messages per second per topic (newest wins; seq jumps become gap items). */
  max_rate?: number;
  /** `false`: no snapshot for topics without a position (default true). */
  snapshot?: boolean;
  /** Initial positions: resume these topics from there (replay of what came after). */
  since?: Positions;
  /**
   * The last N messages of each topic first, then live ones, with no seam (no hole, no
   * duplicate). Sent with the first subscribe of these patterns only (and with the new
   * patterns of setPatterns); a reconnect resumes from positions and never rewinds again.
   * On a trades topic the first of them is a `snapshot` standing for the oldest trade of the
   * window (its seq, price, ...; the epoch and the session fields as of now), the rest
   * `tick`s; on a bar topic all are `bar`s. Fewer than N when the server holds fewer or its
   * replay room takes fewer. With `since`, a topic whose resume fails gets the window instead
   * of the latest state, after its `gap` item.
   */
  rewind?: number;
  /**
   * Levels per side of the `book.SYM` topics the subscription matches (default 10). The
   * server serves a topic at the largest depth of the connection's patterns that match it
   * when the topic joins; a `book` says which (`depth`).
   */
  depth?: Depth;
}

/** What a WebSocket factory must return: the browser WebSocket API, or one like it. */
export interface WebSocketLike {
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type FeedState = "connecting" | "open" | "reconnecting" | "closed";

/** The server is about to close the connection to restart (PROTOCOL.md §7). */
export interface Shutdown {
  type: "shutdown";
  reason: string;
  /** How long to wait before reconnecting; the feed waits this long plus up to 1 s. */
  reconnect_after_ms: number;
}

/** What `onState` says along with a state. */
export interface StateDetail {
  /** "connecting" / "reconnecting": the close code of what ended (1006: no connection made). */
  code?: number;
  /** "connecting" / "reconnecting": the wait before the next attempt (0: at once). */
  delayMs?: number;
  /** "connecting" / "reconnecting": why the last attempt failed or ended, for people. */
  lastError?: string;
  /** "open": the new connection's welcome. */
  welcome?: Welcome;
  /** "open": the server announced a restart; the connection closes soon and the feed reconnects. */
  shutdown?: Shutdown;
  /** "closed": the error that ended the feed (none after close()). */
  error?: TickcastError;
}

export interface ConnectOptions extends Omit<SubscribeOptions, "since"> {
  /** Access token. Node: `Authorization: Bearer`; browsers: `?token=` (see tokenIn). */
  token?: string;
  /** Where the token goes: "header" (Node's default) or "query" (browsers' default and only way). */
  tokenIn?: "header" | "query";
  /** Initial positions of topics, for every subscription of this feed. */
  since?: Positions;
  /** Reject connect() when no `welcome` arrived within this long (default 30,000; 0: wait forever). */
  connectTimeoutMs?: number;
  /** Silence after which a connection is taken for dead (default 3 x welcome.heartbeat_ms). */
  livenessTimeoutMs?: number;
  /** Longest reconnect backoff (default 30,000 ms). */
  maxBackoffMs?: number;
  /** Timeout of publish/list/ping (default 10,000 ms). */
  requestTimeoutMs?: number;
  /** Items a subscription may buffer before the library conflates them (default 100,000; 0: no bound). */
  maxBuffered?: number;
  /** Called on every state change (e.g. to show "reconnecting in 2 s"), and with `shutdown` while open. */
  onState?: (state: FeedState, detail?: StateDetail) => void;
  /** Makes the WebSocket (e.g. from the `ws` package, for a custom CA). Default: the global WebSocket. */
  webSocketFactory?: (url: string, protocols: string[], headers: Record<string, string>) => WebSocketLike;
  /** MessagePack codec (default: the built-in ./msgpack.js). */
  codec?: { encode(value: unknown): Uint8Array; decode(bytes: ArrayBuffer | ArrayBufferView): any };
}

/** Options of a history request (`feed.history`, `history`). */
export interface HistoryOptions {
  /** At most this many messages, the latest (default: the server's, 1,000; at most what it holds). */
  limit?: number;
  /**
   * Only messages with `ts >= from`: a BigInt is nanoseconds since 1970 (like `msg.ts`), a
   * Number milliseconds (like `Date.now()`), a Date, or a string passed as is (RFC 3339 such as
   * `2026-12-03T10:00:00Z`, or integer nanoseconds).
   */
  from?: bigint | number | Date | string;
  /** Only messages with `ts < to` (same forms as `from`). */
  to?: bigint | number | Date | string;
  /** Give up after this long (default 10,000 ms; the feed's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** The fetch to use (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
}

/** Options of the standalone `history()`: a history request's, plus the token and codec. */
export interface StandaloneHistoryOptions extends HistoryOptions {
  /** Access token, sent as `Authorization: Bearer`. */
  token?: string;
  /** MessagePack codec (default: the built-in ./msgpack.js). */
  codec?: { decode(bytes: ArrayBuffer | ArrayBufferView): any };
}

/** A topic's history as `GET /history/{topic}` gives it. */
export interface History {
  topic: string;
  /** The topic's epoch (ticks get it as their `epoch`). */
  epoch: number;
  /** Oldest first: `tick`s of a trades topic, `bar`s of a bar topic. */
  messages: Array<Tick | Bar>;
}

/** Why a feed, subscription or request ended; `message` says why and what to do. */
export declare class TickcastError extends Error {
  constructor(message: string, details?: Partial<Pick<TickcastError, "kind" | "status" | "closeCode" | "code" | "reason">>);
  kind: "http" | "close" | "server" | "timeout" | "connection" | "environment" | "closed";
  /** HTTP status of a refused upgrade (Node only: browsers hide it), or of a refused history request. */
  status?: number;
  /** WebSocket close code. */
  closeCode?: number;
  /**
   * The server's `error.code`: bad_topic, forbidden, bad_request, too_many_subscriptions, ...;
   * for history also unknown_topic (404) and unauthorized (401).
   */
  code?: string;
  /** The server's own words: HTTP body (a history error's `message`), close reason or `error.message`. */
  reason?: string;
}

/** A subscription: `for await (const item of sub)`. Leaving the loop unsubscribes. */
export declare class Subscription implements AsyncIterableIterator<Item> {
  /** The patterns it follows: as given, then as setPatterns() changed them once acknowledged. */
  readonly patterns: string[];
  readonly options: SubscribeOptions;
  /** Id of the latest `subscribe` sent for it. */
  readonly id: number | undefined;
  /** The latest `ack`. */
  readonly ack: Ack | undefined;
  /** Resolves with the first `ack`; rejects when the server refused the subscribe. */
  readonly ready: Promise<Ack>;
  /** Items waiting to be read. */
  readonly buffered: number;
  /** Whether the stream has ended. */
  readonly ended: boolean;
  [Symbol.asyncIterator](): Subscription;
  next(): Promise<IteratorResult<Item, undefined>>;
  return(): Promise<IteratorResult<Item, undefined>>;
  /**
   * Follows other patterns from now on, without a gap: the new ones are subscribed first and,
   * once acknowledged, the old ones nobody else wants are unsubscribed (the stream keeps the
   * old ones until then). Resolves with the ack. A refusal rejects with a TickcastError
   * (`kind` "server", `code`) and changes nothing; the stream goes on. Without a connection the
   * new patterns replace the old ones at once and the next connection subscribes them.
   */
  setPatterns(patterns: string | string[]): Promise<Ack>;
  /** Unsubscribes and ends the stream. */
  close(): void;
}

/** Counters over a feed's life (`feed.stats`). */
export interface FeedStats {
  /** WebSocket frames received, over every connection. */
  frames: number;
  /** Frames that did not decode as a message; they are ignored (the server sends none). */
  undecodable: number;
  /** Ticks, bars and book updates dropped as duplicates (a seq already delivered; the server sends none). */
  duplicates: number;
  /** Fresh books asked for because a book was found wrong (a `book_resync` gap each; the server causes none). */
  bookResyncs: number;
}

/** One logical connection that reconnects and resumes by itself. Made by connect(). */
export declare class Feed {
  constructor(url: string | URL, options?: ConnectOptions);
  readonly url: string;
  readonly options: ConnectOptions;
  /** The latest `welcome` (undefined while disconnected). */
  readonly welcome: Welcome | undefined;
  /** Connections opened so far. */
  readonly connections: number;
  readonly state: FeedState;
  /** Why the last attempt failed or ended, for people. */
  readonly lastError: string | undefined;
  /** The connection's patterns as the server last acknowledged them (`ack.subscriptions`); empty while disconnected. */
  readonly subscriptions: string[];
  /** Frames received, undecodable frames ignored, duplicates dropped (live counters). */
  readonly stats: Readonly<FeedStats>;
  /** Resolves with the feed at the first `welcome`. */
  readonly opened: Promise<Feed>;
  /** Resolves on close(); rejects with the TickcastError that ended the feed. */
  readonly done: Promise<void>;
  /** Subscribes to one pattern or several (NATS wildcards `*`, `>`). */
  subscribe(patterns: string | string[], options?: SubscribeOptions): Subscription;
  /** The verified book of a `book.SYM` topic as it is now (a copy), or undefined before its first `book`. */
  book(topic: string): OrderBook | undefined;
  /** Every topic's position (book topics have none: a book is recovered by its state): pass it as `since` to a later feed. */
  positions(): Record<string, [epoch: number, seq: number]>;
  /** Publishes a trade (needs the publisher role); resolves with the ack, rejects on error. */
  publish(topic: string, price: number, size: number, bid?: number | null, ask?: number | null): Promise<Ack>;
  /**
   * The history of one topic (no wildcards) over HTTP, `GET /history/{topic}` of this feed's
   * server, with its token as `Authorization: Bearer`: the latest `limit` messages with
   * `from <= ts < to`, oldest first. Rejects with a TickcastError: `kind` "http" with `status`
   * and `code` (400 bad_topic/bad_request, 401, 403 forbidden, 404 unknown_topic), "timeout"
   * or "connection".
   */
  history(topic: string, options?: HistoryOptions): Promise<History>;
  /** The topics that exist, optionally only those matching `pattern`. */
  list(pattern?: string): Promise<string[]>;
  /** An application-level round trip. */
  ping(): Promise<Pong>;
  /**
   * Reconnects now: closes the connection (or the attempt under way) and opens a new one at
   * once, which resumes every topic; while waiting out a backoff, ends the wait (e.g. when the
   * network is back). Nothing happens once the feed is closed.
   */
  reconnect(): void;
  /** Closes the feed; every subscription ends. */
  close(): void;
}

/**
 * Connects to `url` (`ws://HOST:PORT/ws` or `wss://`): resolves at the first `welcome`,
 * rejects with a TickcastError on a final refusal or after `connectTimeoutMs`.
 */
export declare function connect(url: string | URL, options?: ConnectOptions): Promise<Feed>;

/**
 * The history of `topic` on the server at `url` (its `ws://HOST/ws` URL or `http://HOST`), as
 * `feed.history` gives it, without a feed.
 */
export declare function history(url: string | URL, topic: string, options?: StandaloneHistoryOptions): Promise<History>;

/** The HTTP base of a server from its WebSocket URL: `ws://h:p/ws` -> `http://h:p`. */
export declare function httpBase(url: string | URL): string;

/** Whether `topic` matches `pattern` (`*`: one token, `>`: the rest). */
export declare function matches(pattern: string, topic: string): boolean;

/** What to do after close code `code` (PROTOCOL.md §12). */
export declare function closeAdvice(code: number): "stop" | "now" | "backoff";
