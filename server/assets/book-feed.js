// The order book's own subscription on the page's one feed: `book.SYM` of the selected
// symbol at depth 10. The client library keeps the book, verifies every update (prev_seq
// chain, checksum) and asks for a fresh book by itself when one is wrong, so every `book` and
// `book_update` item carries a verified book (item.book): this module only hands it on.
// Changing the symbol unsubscribes the previous topic (its leftovers in flight are not taken
// for the new one). Nothing is polled: the book comes over the WebSocket.

/** Book levels per side the page shows. */
export const BOOK_DEPTH = 10;

/** Follows one book topic at a time on `feed`; `hooks.book(book, item)` for each verified book, `hooks.item(item)` for every item. */
export class BookFeed {
  #feed;
  #hooks;
  #sub = null;
  #topic = null;

  constructor(feed, hooks) {
    this.#feed = feed;
    this.#hooks = hooks;
  }

  /** The topic followed (null: none). */
  get topic() {
    return this.#topic;
  }

  /** Follows `topic` (null: nothing). */
  follow(topic) {
    if (topic === this.#topic && this.#sub && !this.#sub.ended) return;
    this.#sub?.close();
    this.#sub = null;
    this.#topic = topic;
    if (!topic) return;
    const sub = this.#feed.subscribe(topic, { depth: BOOK_DEPTH });
    this.#sub = sub;
    this.#read(sub, topic);
  }

  async #read(sub, topic) {
    try {
      for await (const item of sub) {
        if (item.topic !== topic) continue;
        this.#hooks.item(item);
        if (item.book) this.#hooks.book(item.book, item);
      }
    } catch (e) {
      console.warn(`tickcast: book subscription ${topic}: ${e.message}`);
    }
  }
}
