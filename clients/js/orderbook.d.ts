// Type declarations of orderbook.js (OrderBook) and of the order-book items a subscription
// yields (`book`, `book_update`); index.d.ts re-exports them. See README.md, "Order books".

/** One price level of an order book: `[price, size]`. */
export type Level = readonly [price: number, size: number];

/** The depths a subscription may ask for (`depth`): levels per side of its book topics. */
export type Depth = 5 | 10 | 25 | 50;

/** The depths, as values. */
export declare const DEPTHS: readonly Depth[];

/** Levels of each side the checksum covers (10). */
export declare const CHECKSUM_LEVELS: number;

/**
 * The order book of one `book.SYM` topic to a depth (PROTOCOL.md §7, §8): bids highest first,
 * asks lowest first. The library keeps one per subscribed book topic and verifies it after
 * every update; items give a copy (`item.book`). Sides are frozen arrays, replaced (never
 * changed in place) by apply(), so a clone() costs nothing.
 */
export declare class OrderBook {
  /** A book from a `book` message's fields (`tick_size` or `tickSize`); at most `depth` levels a side are kept. */
  constructor(fields: {
    topic?: string;
    symbol?: string;
    epoch?: number | bigint;
    seq?: number | bigint;
    ts?: bigint | number;
    tick_size?: number;
    tickSize?: number;
    depth: number;
    bids?: ReadonlyArray<readonly [number, number | bigint]>;
    asks?: ReadonlyArray<readonly [number, number | bigint]>;
  });
  /** The book a `book` message carries. */
  static from(msg: BookMessage | Omit<BookMessage, "book">): OrderBook;
  readonly topic: string;
  readonly symbol: string;
  /** The topic's epoch. */
  readonly epoch: number;
  /** The `seq` of the last change it includes: the next update's `prev_seq`. */
  readonly seq: number;
  /** Time of the last change, ns since 1970. */
  readonly ts: bigint;
  /** The price grid. */
  readonly tickSize: number;
  /** Levels per side kept. */
  readonly depth: number;
  /** Bids, highest price first. */
  readonly bids: readonly Level[];
  /** Asks, lowest price first. */
  readonly asks: readonly Level[];
  readonly bestBid: Level | undefined;
  readonly bestAsk: Level | undefined;
  /** Best ask minus best bid, on the grid (undefined while a side is empty). */
  readonly spread: number | undefined;
  /** The spread in ticks. */
  readonly spreadTicks: number | undefined;
  /** Halfway between the best bid and ask. */
  readonly mid: number | undefined;
  /** `round(price / tickSize)`. */
  ticks(price: number): number;
  /** The price of a number of ticks, rounded to the grid's decimals. */
  price(ticks: number): number;
  /**
   * Applies an update's levels in order (size 0 removes, a new price adds, else the size is
   * replaced), keeps the best `depth` a side, takes its `seq` and `ts`. Checks neither
   * `prev_seq` nor the checksum (the feed does). Returns this book.
   */
  apply(update: { seq?: number | bigint; ts?: bigint | number; bids?: ReadonlyArray<readonly [number, number | bigint]>; asks?: ReadonlyArray<readonly [number, number | bigint]> }): this;
  /** `{ask levels}|{bid levels}`, each `{price_ticks}:{size}`, the top 10 a side (PROTOCOL.md §8). */
  checksumText(): string;
  /** CRC-32 of checksumText(): the server's `checksum` when the book is right. */
  checksum(): number;
  /** A copy as the book is now. */
  clone(): OrderBook;
}

/**
 * A `book` on `book.SYM` (PROTOCOL.md §7): the whole book to the subscription's depth. It
 * starts the topic, and replaces the book after a reconnect, a resync or a `lagged`
 * (`recovered: false`): replace what you show with it.
 */
export interface BookMessage {
  type: "book";
  topic: string;
  /** The seq of the last change it includes. */
  seq: number;
  epoch: number;
  ts: bigint;
  symbol: string;
  tick_size: number;
  depth: number;
  bids: Level[];
  asks: Level[];
  checksum: number;
  /** `false`: it replaces updates this client did not get (a slow reader; or the library's own buffer). */
  recovered?: boolean;
  /** The verified book (a copy; added by the library). */
  book: OrderBook;
}

/**
 * A `book_update`: the levels that changed at the subscription's depth (size 0: removed).
 * The library delivers it only after checking that it follows the book (`prev_seq`) and that
 * the book's checksum after it equals `checksum`; `book` is the result.
 */
export interface BookUpdate {
  type: "book_update";
  topic: string;
  /** This change's seq (it may skip: changes beyond the depth make no update). */
  seq: number;
  /** The seq of the book or update before it (never skips). */
  prev_seq: number;
  ts: bigint;
  symbol: string;
  bids: Level[];
  asks: Level[];
  checksum: number;
  /** The topic's epoch (added by the library, from the book). */
  epoch: number;
  /** The verified book after this update (a copy; added by the library). */
  book: OrderBook;
}
