// The order books a feed keeps (PROTOCOL.md §8, "Order books"): one OrderBook per `book.SYM`
// topic, and the verdict on each `book` and `book_update`. Updates chain by `prev_seq` (their
// `seq` may skip: changes beyond the subscriber's depth make no update), so a skipped `seq`
// is no gap; a `prev_seq` that is not the book's `seq`, or a checksum that differs after
// applying, means the book is wrong: the update is not delivered, a `gap` item (cause
// "book_resync") says so, and the caller resubscribes the topic for a fresh `book`; updates
// are dropped until it comes. No I/O: recovery.js asks, feed.js and routing.js act.

import { OrderBook } from "./orderbook.js";
import { toSafe } from "./messages.js";

const RESYNC_FIRST_DELAY_MS = 500;
const RESYNC_MAX_DELAY_MS = 30_000;

/** The books of a feed's `book.*` topics and the verdicts on their messages. */
export class Books {
  #topics = new Map(); // topic -> { book: OrderBook, resyncing: boolean, failures: number }

  /** The verified book of `topic` as it is now (a copy), or undefined. */
  book(topic) {
    return this.#topics.get(topic)?.book?.clone();
  }

  /** Every topic with a book. */
  topics() {
    return [...this.#topics.keys()];
  }

  /** Forgets every topic for which `kept(topic)` does not hold. */
  forget(kept) {
    for (const topic of this.#topics.keys()) {
      if (!kept(topic)) this.#topics.delete(topic);
    }
  }

  /**
   * The verdict on a `book` or `book_update` `msg` (`lagged`: a `lagged` named the topic
   * since its last message): `{ gap, deliver, resync, duplicate }`. `gap` is a `gap` item to
   * deliver first (or null); `deliver` whether to deliver `msg`, which then carries `epoch`
   * and `book` (the verified book after it, a copy); `resync`, unless null, the delay in ms
   * after which the topic must be resubscribed; `duplicate` whether it was an update the book
   * already has.
   */
  accept(msg, lagged) {
    msg.seq = toSafe(msg.seq);
    return msg.type === "book" ? this.#book(msg, lagged) : this.#update(msg, lagged);
  }

  #book(msg, lagged) {
    msg.epoch = toSafe(msg.epoch);
    const topic = msg.topic;
    const held = this.#topics.get(topic);
    const book = OrderBook.from(msg);
    if (book.checksum() !== Number(msg.checksum)) return this.#resync(msg, held, lagged, "checksum");
    let gap = null;
    if (held?.book && held.book.epoch !== book.epoch) {
      gap = this.#gap(msg, book.epoch, "new_epoch", lagged, { previous_epoch: held.book.epoch });
    } else if (msg.recovered === false) {
      gap = this.#gap(msg, book.epoch, "not_recovered", lagged, { recovered: false });
    }
    this.#topics.set(topic, { book, resyncing: false, failures: held?.failures ?? 0 });
    msg.book = book.clone();
    return { gap, deliver: true, resync: null, duplicate: false };
  }

  #update(msg, lagged) {
    const held = this.#topics.get(msg.topic);
    // No book yet, or one asked for again: what comes before it cannot be applied.
    if (!held?.book || held.resyncing) return { gap: null, deliver: false, resync: null, duplicate: false };
    const prevSeq = toSafe(msg.prev_seq);
    msg.prev_seq = prevSeq;
    if (msg.seq <= held.book.seq) return { gap: null, deliver: false, resync: null, duplicate: true };
    if (prevSeq !== held.book.seq) return this.#resync(msg, held, lagged, "prev_seq");
    const next = held.book.clone().apply(msg);
    if (next.checksum() !== Number(msg.checksum)) return this.#resync(msg, held, lagged, "checksum");
    held.book = next;
    held.failures = 0;
    msg.epoch = next.epoch;
    msg.book = next.clone();
    return { gap: null, deliver: true, resync: null, duplicate: false };
  }

  // The book of msg.topic is wrong (`reason`: "checksum" or "prev_seq"): drop updates until a
  // fresh book, resubscribe at once the first time, then with a growing delay while fresh
  // books keep failing (a checksum this client computes differently must not become a loop).
  #resync(msg, held, lagged, reason) {
    const failures = (held?.failures ?? 0) + 1;
    const epoch = held?.book?.epoch ?? toSafe(msg.epoch);
    this.#topics.set(msg.topic, { book: held?.book, resyncing: true, failures });
    const delay = failures <= 1 ? 0 : Math.min(RESYNC_MAX_DELAY_MS, RESYNC_FIRST_DELAY_MS * 2 ** (failures - 2));
    const extra = msg.prev_seq === undefined ? { reason } : { reason, prev_seq: msg.prev_seq, book_seq: held?.book?.seq };
    const gap = this.#gap(msg, epoch, "book_resync", lagged, extra);
    return { gap, deliver: false, resync: delay, duplicate: false };
  }

  #gap(msg, epoch, cause, lagged, extra) {
    return {
      type: "gap",
      topic: msg.topic,
      epoch,
      expected: null, // a book's seqs skip: what was missed is not counted
      received: msg.seq,
      missed: null,
      cause,
      ...extra,
      lagged,
      max_rate: false,
      // announced by the server (a new epoch, recovered: false); a broken book never is
      announced: cause !== "book_resync",
    };
  }
}
