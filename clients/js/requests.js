// The requests a feed has in flight (publish, list, ping) and their answers: the promise of
// each id, its timeout, and settling it with the server's answer (`ack`, `topics`, `pong`, or
// an `error` echoing the id). No I/O: feed.js sends the request and hands the answers over.

import { TickcastError } from "./errors.js";

/** Requests waiting for their answer, by id. */
export class Requests {
  #pending = new Map(); // id -> { resolve, reject, timer, what }

  /** The answer to request `id` (`what` names it in errors); rejects after `timeoutMs`. */
  wait(id, what, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TickcastError(`${what}: no answer within ${timeoutMs} ms`, { kind: "timeout" }));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, what });
    });
  }

  /** Whether request `id` waits for its answer. */
  has(id) {
    return this.#pending.has(id);
  }

  /** Settles the request `msg` answers: resolves with it, or rejects when it is an `error`. */
  answer(msg) {
    const r = this.#pending.get(msg.id);
    if (!r) return;
    this.#pending.delete(msg.id);
    clearTimeout(r.timer);
    if (msg.type === "error") {
      r.reject(new TickcastError(`the server refused ${r.what}: ${msg.code}: ${msg.message}`, { kind: "server", code: msg.code, reason: msg.message }));
    } else {
      r.resolve(msg);
    }
  }

  /** Rejects every waiting request with `error`. */
  rejectAll(error) {
    for (const [id, r] of this.#pending) {
      clearTimeout(r.timer);
      r.reject(error);
      this.#pending.delete(id);
    }
  }
}
