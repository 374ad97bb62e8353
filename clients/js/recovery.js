// Recovery state of a feed (PROTOCOL.md §8, §13, §14): the [epoch, seq] of every topic
// delivered, the topics named by a `lagged`, the verdict on each tick/bar/snapshot
// (deliver, drop a duplicate, or announce a `gap` first), the order books of `book.*`
// topics (books.js: chained by `prev_seq`, verified by checksum; a book is recovered by its
// state, so book topics have no position to resume), and the `resume` pieces that hand
// positions over after a reconnect. No I/O: feed.js sends and routes what this decides.

import { Books } from "./books.js";
import { toSafe } from "./messages.js";

const RESUME_PIECE = 1000; // topics per `resume` message (PROTOCOL.md §14)

/** Per-topic positions and the duplicate/gap verdicts built on them. */
export class Recovery {
  #positions = new Map(); // topic -> { epoch, seq } of the last tick/bar/snapshot delivered
  #lagged = new Set(); // topics named by a `lagged` since their last message
  #books = new Books();

  /** Adds positions given as `since` ({ topic: [epoch, seq] }). */
  addPositions(since) {
    for (const [topic, pos] of Object.entries(since)) {
      const [epoch, seq] = pos;
      this.#positions.set(topic, { epoch: toSafe(epoch), seq: toSafe(seq) });
    }
  }

  /** Every position as { topic: [epoch, seq] }. */
  positions() {
    const out = {};
    for (const [topic, p] of this.#positions) out[topic] = [p.epoch, p.seq];
    return out;
  }

  /** `[topic, [epoch, seq]]` of every topic for which `wanted(topic)` holds, for resume(). */
  entries(wanted) {
    const entries = [];
    for (const [topic, p] of this.#positions) {
      if (wanted(topic)) entries.push([topic, [p.epoch, p.seq]]);
    }
    return entries;
  }

  /** Forgets every topic for which `kept(topic)` does not hold (positions and books). */
  forget(kept) {
    for (const topic of this.#positions.keys()) {
      if (!kept(topic)) this.#positions.delete(topic);
    }
    this.#books.forget(kept);
  }

  /** The verified order book of `topic` as it is now (a copy), or undefined. */
  book(topic) {
    return this.#books.book(topic);
  }

  /** The topics with an order book. */
  bookTopics() {
    return this.#books.topics();
  }

  /**
   * The verdict on a `book` or `book_update` (books.js): `{ gap, deliver, resync,
   * duplicate }`; `resync`, unless null, is the delay after which the caller resubscribes
   * the topic for a fresh book.
   */
  acceptBook(msg) {
    const verdict = this.#books.accept(msg, this.#lagged.has(msg.topic));
    if (verdict.deliver || verdict.gap) this.#lagged.delete(msg.topic);
    return verdict;
  }

  /** The server conflated this client's queue: the next jump on these topics was announced. */
  markLagged(topics) {
    for (const topic of topics) this.#lagged.add(topic);
  }

  /**
   * The verdict on a tick, bar or snapshot `msg` (its `seq` and `epoch` are normalized and
   * `epoch` is set in place): `{ gap, deliver }`, where `gap` is a `gap` item to deliver
   * before it (or null) and `deliver` whether to deliver `msg` at all (false for a
   * duplicate). `serverEpoch` is welcome.epoch; `maxRate(topic)` whether a subscription
   * matching the topic has max_rate. A delivered message becomes the topic's position.
   */
  accept(msg, serverEpoch, maxRate) {
    const topic = msg.topic;
    msg.seq = toSafe(msg.seq);
    if (msg.epoch !== undefined) msg.epoch = toSafe(msg.epoch);
    const last = this.#positions.get(topic);
    // The topic's epoch: a snapshot and a bar carry it; a tick keeps its topic's (section 14).
    // A topic never seen (subscribed with snapshot: false) has the server's, right when standalone.
    const epoch = msg.epoch ?? last?.epoch ?? toSafe(serverEpoch);
    msg.epoch = epoch;
    const seq = msg.seq;
    let gap = null;
    if (last && last.epoch !== epoch) {
      gap = { expected: null, missed: null, cause: "new_epoch", previous_epoch: last.epoch };
    } else if (last && seq <= last.seq) {
      // Already delivered: drop it. A snapshot is the topic's state: delivered, position kept.
      return { gap: null, deliver: msg.type === "snapshot" };
    } else if (last && seq !== last.seq + 1) {
      gap = { expected: last.seq + 1, missed: seq - last.seq - 1, cause: msg.recovered === false ? "not_recovered" : "seq_jump" };
    } else if (!last && msg.recovered === false) {
      gap = { expected: null, missed: null, cause: "not_recovered" };
    }
    let item = null;
    if (gap) {
      const lagged = this.#lagged.has(topic);
      const max_rate = maxRate(topic);
      item = {
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
        max_rate,
        announced: gap.cause !== "seq_jump" || lagged || max_rate,
      };
    }
    this.#lagged.delete(topic);
    this.#positions.set(topic, { epoch, seq });
    return { gap: item, deliver: true };
  }
}

/**
 * The `resume` messages that hand `entries` over: pieces of at most 1,000 topics, each
 * halved until it encodes (with `encode`) within `maxBytes` (welcome.max_message_bytes).
 */
export function resumePieces(entries, encode, maxBytes) {
  const out = [];
  const add = (piece) => {
    const msg = { type: "resume", since: Object.fromEntries(piece) };
    if (piece.length > 1 && encode(msg).length > maxBytes) {
      const half = Math.ceil(piece.length / 2);
      add(piece.slice(0, half));
      add(piece.slice(half));
      return;
    }
    out.push(msg);
  };
  for (let i = 0; i < entries.length; i += RESUME_PIECE) add(entries.slice(i, i + RESUME_PIECE));
  return out;
}
