// One subscription's stream: the async iterable a caller reads with `for await`, its buffer
// of items (messages, `gap`, `lagged`, `error`), the conflation of that buffer when the reader
// falls behind (cause "client_buffer"; a book topic keeps its newest book), and how it
// ends. feed.js fills it; it only asks the feed for `options.maxBuffered`, to `_unsubscribe`
// it and to `_changePatterns` (routing.js).

import { TickcastError } from "./errors.js";

/** One subscription: an async iterable of messages and `gap` items of the topics it matches. */
export class Subscription {
  #feed;
  #queue = [];
  #waiters = [];
  #error = null;
  #done = false;
  #resolveReady;
  #rejectReady;
  #changing = null; // settles with the latest setPatterns while that is pending

  constructor(feed, patterns, options) {
    this.#feed = feed;
    /** The patterns it follows: as given, then as setPatterns() changed them once acked. */
    this.patterns = patterns;
    /** `max_rate`, `snapshot`, `since`, `rewind`, `depth` as given. */
    this.options = options;
    /** Id of the latest `subscribe` sent for it (a new one after every reconnect). */
    this.id = undefined;
    /** The latest `ack` of its `subscribe`. */
    this.ack = undefined;
    /** Those of its patterns the server acknowledged (a subscribe of only these: no rewind). */
    this._ackedPatterns = new Set();
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

  /**
   * Follows `patterns` (a string or an array) from now on, without a gap: the new patterns are
   * subscribed first and, once the server acknowledged them, the old ones no other subscription
   * wants are unsubscribed; until then the stream keeps the old ones. Resolves with the `ack`.
   * When the server refuses them, rejects with a TickcastError (`code`) and nothing changes:
   * the stream goes on. Without a connection they replace the old ones at once and the next
   * connection subscribes them (a refusal then ends the stream, as for any subscribe). Calls
   * made before an earlier one settled take their turn after it.
   */
  setPatterns(patterns) {
    const list = typeof patterns === "string" ? [patterns] : [...patterns];
    const run = () => this.#feed._changePatterns(this, list);
    const change = this.#changing ? this.#changing.then(run) : run();
    const settled = change.then(() => {}, () => {});
    this.#changing = settled;
    settled.then(() => {
      if (this.#changing === settled) this.#changing = null;
    });
    return change;
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
  // item in front of it for what was dropped here (cause "client_buffer"); of a book topic
  // keep only its newest book, as a whole `book` (`recovered: false`) when updates before it
  // went. Everything else (snapshots, gaps, status, lagged, errors) is kept.
  #conflate() {
    const newest = new Map();
    this.#queue.forEach((item, i) => {
      if (conflatable(item)) newest.set(item.topic, i);
    });
    const dropped = new Map(); // topic -> first dropped item
    const kept = [];
    this.#queue.forEach((item, i) => {
      if (conflatable(item) && newest.get(item.topic) !== i) {
        if (!dropped.has(item.topic)) dropped.set(item.topic, item);
        return;
      }
      const first = dropped.get(item.topic);
      if (first && conflatable(item)) {
        const book = item.type === "book" || item.type === "book_update";
        kept.push({
          type: "gap",
          topic: item.topic,
          epoch: item.epoch,
          expected: book ? null : first.seq,
          received: item.seq,
          missed: book ? null : item.seq - first.seq,
          cause: "client_buffer",
          announced: true,
          lagged: false,
          max_rate: false,
        });
        if (book) item = wholeBook(item.book);
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

const conflatable = (item) => ["tick", "bar", "book", "book_update"].includes(item.type);

/** A `book` item holding the whole of OrderBook `book`, in place of updates dropped before it. */
function wholeBook(book) {
  return {
    type: "book",
    topic: book.topic,
    seq: book.seq,
    epoch: book.epoch,
    ts: book.ts,
    symbol: book.symbol,
    tick_size: book.tickSize,
    depth: book.depth,
    bids: [...book.bids],
    asks: [...book.asks],
    checksum: book.checksum(),
    recovered: false,
    book,
  };
}
