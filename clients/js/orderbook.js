// OrderBook: the order book of one `book.SYM` topic to a depth, as a client keeps it
// (PROTOCOL.md §7 `book`/`book_update`, §8 "Order books"): built from a `book`, changed by
// each `book_update` (size 0 removes a level, a price not in the book adds one, the best
// `depth` levels a side are kept), and its checksum, which must equal the one the server
// sent. Sides are arrays of `[price, size]`, best first, never changed in place: apply()
// replaces them, so a copy (clone()) costs nothing and stays as it was. No I/O; the
// verification and what follows a mismatch live in books.js.

import { crc32 } from "./crc32.js";

/** Levels of each side the checksum covers (PROTOCOL.md §8). */
export const CHECKSUM_LEVELS = 10;

/** The depths a subscription may ask for (`subscribe` option `depth`). */
export const DEPTHS = Object.freeze([5, 10, 25, 50]);

const num = (v) => (typeof v === "bigint" ? Number(v) : v);
const level = ([price, size]) => Object.freeze([num(price), num(size)]);

/** The order book of one symbol to a depth: `bids` highest first, `asks` lowest first. */
export class OrderBook {
  /**
   * A book from the fields of a `book` message (`tick_size` or `tickSize`); its levels are
   * taken best first as given, at most `depth` a side.
   */
  constructor({ topic, symbol, epoch, seq, ts, tick_size, tickSize, depth, bids = [], asks = [] }) {
    /** `book.SYM`. */
    this.topic = topic;
    this.symbol = symbol;
    /** The topic's epoch. */
    this.epoch = num(epoch);
    /** The `seq` of the last change this book includes: the next update's `prev_seq`. */
    this.seq = num(seq);
    /** Time of the last change, ns since 1970 (a BigInt, like every `ts`). */
    this.ts = typeof ts === "number" ? BigInt(ts) : ts;
    /** The price grid: every price is a whole multiple of it. */
    this.tickSize = num(tickSize ?? tick_size);
    /** Levels per side kept. */
    this.depth = num(depth);
    /** `[price, size]` levels, highest price first. */
    this.bids = Object.freeze(bids.slice(0, this.depth).map(level));
    /** `[price, size]` levels, lowest price first. */
    this.asks = Object.freeze(asks.slice(0, this.depth).map(level));
  }

  /** The book a `book` message carries. */
  static from(msg) {
    return new OrderBook(msg);
  }

  /** The highest bid `[price, size]`, or undefined. */
  get bestBid() {
    return this.bids[0];
  }

  /** The lowest ask `[price, size]`, or undefined. */
  get bestAsk() {
    return this.asks[0];
  }

  /** Best ask minus best bid in ticks of the grid (undefined while a side is empty). */
  get spreadTicks() {
    if (!this.bids.length || !this.asks.length) return undefined;
    return this.ticks(this.asks[0][0]) - this.ticks(this.bids[0][0]);
  }

  /** Best ask minus best bid, on the grid (0.02, not 0.0199999): undefined while a side is empty. */
  get spread() {
    const ticks = this.spreadTicks;
    return ticks === undefined ? undefined : this.price(ticks);
  }

  /** Halfway between the best bid and the best ask (undefined while a side is empty). */
  get mid() {
    if (!this.bids.length || !this.asks.length) return undefined;
    return this.price(this.ticks(this.asks[0][0]) + this.ticks(this.bids[0][0])) / 2;
  }

  /** `price` in ticks of the grid: `round(price / tickSize)`. */
  ticks(price) {
    return Math.round(num(price) / this.tickSize);
  }

  /** The price of `ticks` ticks, rounded to the grid's decimals (18722 ticks of 0.01: 187.22). */
  price(ticks) {
    const scale = 10 ** Math.max(0, Math.ceil(-Math.log10(this.tickSize)));
    return Math.round(ticks * this.tickSize * scale) / scale;
  }

  /**
   * Applies a `book_update`'s levels in order (size 0 removes the level, a price not in the
   * book adds it, any other replaces its size), keeps the best `depth` levels a side and
   * takes the update's `seq` and `ts`. It does not check `prev_seq` or the checksum: see
   * checksum(). Returns this book.
   */
  apply(update) {
    this.bids = applySide(this.bids, update.bids ?? [], -1, this);
    this.asks = applySide(this.asks, update.asks ?? [], 1, this);
    if (update.seq !== undefined) this.seq = num(update.seq);
    if (update.ts !== undefined) this.ts = typeof update.ts === "number" ? BigInt(update.ts) : update.ts;
    return this;
  }

  /**
   * The checksum text (PROTOCOL.md §8): the top 10 asks from the lowest, `|`, the top 10 bids
   * from the highest, each `{price_ticks}:{size}`, joined by `,`.
   */
  checksumText() {
    return `${checksumSide(this.asks, this.tickSize)}|${checksumSide(this.bids, this.tickSize)}`;
  }

  /** CRC-32 of checksumText(): equals the server's `checksum` when this book is right. */
  checksum() {
    return crc32(this.checksumText());
  }

  /** A copy, as this book is now (later apply() calls on either leave the other as it was). */
  clone() {
    const copy = Object.create(OrderBook.prototype);
    return Object.assign(copy, this);
  }
}

// `levels` with `changes` applied, at most `book.depth` of them; `order` 1: lowest price
// first (asks), -1: highest first (bids). Prices are compared in ticks of `book`'s grid.
function applySide(levels, changes, order, book) {
  if (!changes.length) return levels;
  const out = levels.slice();
  for (const change of changes) {
    const [price, size] = level(change);
    const t = book.ticks(price);
    let i = 0;
    while (i < out.length && order * (book.ticks(out[i][0]) - t) < 0) i++;
    const same = i < out.length && book.ticks(out[i][0]) === t;
    if (size === 0) {
      if (same) out.splice(i, 1);
    } else if (same) {
      out[i] = Object.freeze([price, size]);
    } else {
      out.splice(i, 0, Object.freeze([price, size]));
    }
  }
  if (out.length > book.depth) out.length = book.depth;
  return Object.freeze(out);
}

// One side of the checksum text: its top CHECKSUM_LEVELS levels as `{price_ticks}:{size}`, joined by `,`.
function checksumSide(levels, tickSize) {
  let text = "";
  const n = Math.min(levels.length, CHECKSUM_LEVELS);
  for (let i = 0; i < n; i++) {
    if (i > 0) text += ",";
    text += `${Math.round(levels[i][0] / tickSize)}:${levels[i][1]}`;
  }
  return text;
}
