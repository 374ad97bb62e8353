// The subscriptions of a feed, and the server's patterns kept in step with them: which
// subscriptions a message goes to; what is sent when one is added (the positions of the topics
// it adds, then its subscribe), closed (unsubscribe what nobody wants any more, forget those
// topics) or given new patterns (Subscription.setPatterns: the new ones first, the old ones
// once acked, nothing changed when refused); and all of it again on every new connection.
// `rewind` goes only with a subscribe of patterns not yet acknowledged for the subscription
// (its first, and a pattern change adding some): a reconnect resumes with positions and never
// rewinds again.
// Messages still in flight for patterns being unsubscribed are told apart from those of a
// new subscription to the same topics (stale()). A book found wrong is asked for again
// (resync(): its patterns unsubscribed and subscribed again). feed.js owns the connection
// and gives a link to it while one is open; recovery.js keeps the positions and books.

import { TickcastError } from "./errors.js";
import { matches, matchesAny, subscribeMessage } from "./messages.js";

/** A feed's subscriptions and their `subscribe`/`unsubscribe` messages. */
export class Router {
  #subs = new Set();
  #byId = new Map(); // id of a subscribe in flight or acked -> its subscription
  #changes = new Map(); // subscription -> { patterns, id, resolve, reject }: not yet acked
  #recovery;
  #nextId;
  #link = null; // { send(msg), resume(entries) } while a connection is open
  #draining = new Map(); // id of an unsubscribe not yet acked -> its patterns
  #serverPatterns = []; // the connection's patterns as the server last acknowledged them

  /** `recovery`: the feed's positions; `nextId()`: a fresh request id. */
  constructor(recovery, nextId) {
    this.#recovery = recovery;
    this.#nextId = nextId;
  }

  /** A connection is open (`link`): every position of a followed topic, then every subscribe. */
  connected(link) {
    this.#link = link;
    link.resume(this.#recovery.entries((topic) => this.followed(topic)));
    for (const sub of this.#subs) this.#subscribe(sub);
  }

  /** The connection is gone; pending pattern changes take effect on the next one. */
  disconnected() {
    this.#link = null;
    this.#draining.clear();
    this.#serverPatterns = [];
    this.#adoptChanges();
  }

  /** Adds `sub`; while connected, sends the positions of the topics it adds and its subscribe. */
  add(sub) {
    // Only topics no other subscription follows: those are being delivered already.
    const entries = this.#recovery.entries((topic) => matchesAny(sub.patterns, topic) && !this.followed(topic));
    this.#subs.add(sub);
    if (!this.#link) return;
    this.#link.resume(entries);
    this.#subscribe(sub);
  }

  /** Removes `sub` (closed by its reader): unsubscribes the patterns nobody else wants. */
  remove(sub) {
    if (!this.#subs.delete(sub)) return;
    if (sub.id !== undefined) this.#byId.delete(sub.id);
    this.#settle(sub, new TickcastError("the subscription was closed before the server acknowledged its new patterns", { kind: "closed" }));
    this.#drop(sub.patterns);
  }

  /**
   * Gives `sub` new patterns. Connected: their subscribe goes first (with the positions of the
   * topics they add) and the stream keeps the old patterns until its ack; a refusal changes
   * nothing. Disconnected: they replace the old ones at once. Resolves with the ack.
   */
  change(sub, patterns) {
    if (!this.#subs.has(sub)) return Promise.reject(new TickcastError("the subscription has ended", { kind: "closed" }));
    return new Promise((resolve, reject) => {
      this.#changes.set(sub, { patterns, id: undefined, resolve, reject });
      if (!this.#link) return this.#adoptChanges();
      this.#link.resume(this.#recovery.entries((topic) => matchesAny(patterns, topic) && !this.followed(topic)));
      this.#subscribe(sub, patterns);
    });
  }

  /**
   * Asks the server for a fresh book of `topic` (PROTOCOL.md §8: unsubscribe the topic and
   * subscribe it again): the patterns that match it are unsubscribed, then every subscription
   * holding one subscribes again (no rewind), after the positions of the other topics those
   * patterns cover, which the server replays: for them nothing is lost. What was in flight
   * for those patterns before the unsubscribe's ack is a leftover (stale()). Without a
   * connection nothing is sent: the next one starts every book afresh. Returns whether a
   * request went out.
   */
  resync(topic) {
    if (!this.#link) return false;
    const owners = [...this.#subs].filter((sub) => matchesAny(sub.patterns, topic));
    const changes = [...this.#changes].filter(([, c]) => c.id !== undefined && matchesAny(c.patterns, topic));
    const going = [...new Set([...owners.flatMap((s) => s.patterns), ...changes.flatMap(([, c]) => c.patterns)])].filter((p) => matches(p, topic));
    if (!going.length) return false;
    const kept = [...this.#subs, ...this.#changes.values()].flatMap((s) => s.patterns).filter((p) => !going.includes(p));
    const id = this.#nextId();
    this.#draining.set(id, going);
    this.#link.send({ type: "unsubscribe", id, topics: going });
    this.#link.resume(this.#recovery.entries((t) => matchesAny(going, t) && !matchesAny(kept, t)));
    for (const sub of owners) this.#subscribe(sub);
    for (const [sub, change] of changes) this.#subscribe(sub, change.patterns);
    return true;
  }

  /** Whether some subscription matches `topic`. */
  followed(topic) {
    for (const sub of this.#subs) if (matchesAny(sub.patterns, topic)) return true;
    return false;
  }

  /**
   * Whether a message of `topic` is a leftover of patterns being unsubscribed: sent before
   * the server took the `unsubscribe` (its ack not yet here) and covered by no other pattern
   * the server has. A subscription that just subscribed the same topic again must not take it:
   * its own messages (a rewind, a snapshot) come after that ack, and would look like
   * duplicates of the leftover.
   */
  stale(topic) {
    if (this.#draining.size === 0) return false;
    const going = new Set([...this.#draining.values()].flat());
    if (![...going].some((p) => matches(p, topic))) return false;
    return !this.#serverPatterns.some((p) => !going.has(p) && matches(p, topic));
  }

  /** Takes the server's patterns from any `ack` (`ack.subscriptions`). */
  serverPatterns(patterns) {
    this.#serverPatterns = patterns;
  }

  /** Takes an unsubscribe's `ack`: messages of its patterns stop here (PROTOCOL.md §8). */
  unsubscribed(ack) {
    this.#draining.delete(ack.id);
  }

  /** Whether a subscription matching `topic` has `max_rate` (its seq jumps are expected). */
  maxRate(topic) {
    for (const sub of this.#subs) if (sub.options.max_rate && matchesAny(sub.patterns, topic)) return true;
    return false;
  }

  /** Gives `item` to every subscription matching `topic`. */
  route(topic, item) {
    for (const sub of this.#subs) if (matchesAny(sub.patterns, topic)) sub._push(item);
  }

  /** Gives a `lagged` to every subscription matching one of its topics. */
  routeLagged(msg) {
    for (const sub of this.#subs) if (msg.topics.some((t) => matchesAny(sub.patterns, t))) sub._push(msg);
  }

  /** Gives `item` to every subscription. */
  broadcast(item) {
    for (const sub of this.#subs) sub._push(item);
  }

  /** Takes a subscribe's `ack`; false when it answers none of these subscriptions. */
  acked(ack) {
    const sub = this.#byId.get(ack.id);
    if (!sub) return false;
    const change = this.#changes.get(sub);
    if (change?.id === ack.id) {
      // The new patterns are in: the stream follows them; the old ones nobody wants go.
      this.#changes.delete(sub);
      if (sub.id !== undefined) this.#byId.delete(sub.id);
      const old = sub.patterns;
      sub.patterns = change.patterns;
      sub.id = ack.id;
      sub._acked(ack);
      sub._ackedPatterns = new Set(sub.patterns);
      this.#drop(old);
      change.resolve(ack);
      return true;
    }
    sub._acked(ack);
    sub._ackedPatterns = new Set(sub.patterns);
    if (change && change.id === undefined) this.#settle(sub, null, ack); // adopted while disconnected
    return true;
  }

  /** Takes an `error` answering a subscribe; false when it answers none of these subscriptions. */
  refused(msg) {
    const sub = this.#byId.get(msg.id);
    if (!sub) return false;
    this.#byId.delete(msg.id);
    const refusal = (patterns) =>
      new TickcastError(`the server refused subscribe ${JSON.stringify(patterns)}: ${msg.code}: ${msg.message}`, { kind: "server", code: msg.code, reason: msg.message });
    const change = this.#changes.get(sub);
    // A refused change changed nothing: the subscription goes on with its patterns.
    if (change?.id === msg.id) {
      this.#settle(sub, refusal(change.patterns));
      return true;
    }
    this.#subs.delete(sub);
    const error = refusal(sub.patterns);
    this.#settle(sub, error);
    sub._fail(error);
    return true;
  }

  /** Ends every subscription: failed with `error`, or (none) as closed. */
  endAll(error) {
    const closed = new TickcastError("the feed was closed", { kind: "closed" });
    for (const sub of this.#changes.keys()) this.#settle(sub, error ?? closed);
    for (const sub of this.#subs) {
      if (error) sub._fail(error);
      else sub._end();
    }
    this.#subs.clear();
    this.#byId.clear();
  }

  // Sends the subscribe of `sub`'s patterns, or of the new `patterns` of its pending change;
  // with `rewind` only when some of them are not acknowledged for `sub` yet (a topic's first
  // subscribe: a reconnect resumes, it does not rewind again).
  #subscribe(sub, patterns = undefined) {
    const id = this.#nextId();
    this.#byId.set(id, sub);
    if (patterns) {
      this.#changes.get(sub).id = id;
    } else {
      if (sub.id !== undefined) this.#byId.delete(sub.id);
      sub.id = id;
    }
    const list = patterns ?? sub.patterns;
    const fresh = list.some((p) => !sub._ackedPatterns.has(p));
    this.#link.send(subscribeMessage(id, list, fresh ? sub.options : { ...sub.options, rewind: undefined }));
  }

  // Pending changes take effect now (no connection: the next one subscribes the new patterns,
  // and its ack settles them).
  #adoptChanges() {
    for (const [sub, change] of this.#changes) {
      if (change.id !== undefined) this.#byId.delete(change.id);
      change.id = undefined;
      sub.patterns = change.patterns;
      sub._ackedPatterns = new Set(change.patterns.filter((p) => sub._ackedPatterns.has(p)));
    }
    this.#recovery.forget((topic) => this.followed(topic));
  }

  #settle(sub, error, ack = undefined) {
    const change = this.#changes.get(sub);
    if (!change) return;
    this.#changes.delete(sub);
    if (change.id !== undefined) this.#byId.delete(change.id);
    if (error) change.reject(error);
    else change.resolve(ack);
  }

  // Unsubscribes those of `patterns` no subscription (or pending change) wants, and forgets
  // the topics nobody follows, so a later subscribe starts fresh instead of resuming from an
  // old position.
  #drop(patterns) {
    const still = new Set([...this.#subs, ...this.#changes.values()].flatMap((s) => s.patterns));
    const gone = patterns.filter((p) => !still.has(p));
    if (gone.length && this.#link) {
      const id = this.#nextId();
      this.#draining.set(id, gone);
      this.#link.send({ type: "unsubscribe", id, topics: gone });
    }
    this.#recovery.forget((topic) => this.followed(topic));
  }
}
