// The chart's own subscription on the page's one feed: the bar topic of the selected symbol
// and range, subscribed with `rewind` so that its history comes first and live bars follow
// with no seam (the client library hands over positions and never rewinds again on a
// reconnect). Changing the topic unsubscribes the previous one (the library does not take
// its leftovers in flight for the new one). A `gap` on the topic (the server restarted, or
// bars were lost) starts it over: a new subscription, whose window refills the chart.
// Nothing is polled: every bar comes over the WebSocket.

/** Follows one topic at a time on `feed`; `hooks.start(topic)` when a (new) window begins, `hooks.item(item, topic)` for each item. */
export class ChartFeed {
  #feed;
  #hooks;
  #sub = null;
  #topic = null;
  #rewind = 0;

  constructor(feed, hooks) {
    this.#feed = feed;
    this.#hooks = hooks;
  }

  /** The topic followed (null: none). */
  get topic() {
    return this.#topic;
  }

  /** Follows `topic` (null: nothing) with its last `rewind` messages first. */
  follow(topic, rewind) {
    if (topic === this.#topic && this.#sub && !this.#sub.ended) return;
    this.#topic = topic;
    this.#rewind = rewind;
    this.#restart();
  }

  #restart() {
    this.#sub?.close();
    this.#sub = null;
    const topic = this.#topic;
    if (!topic) return;
    this.#hooks.start(topic);
    const sub = this.#feed.subscribe(topic, { rewind: this.#rewind });
    this.#sub = sub;
    this.#read(sub, topic);
  }

  async #read(sub, topic) {
    try {
      for await (const item of sub) {
        if (item.type === "gap" && item.topic === topic) {
          // What is held no longer joins up with what follows: fetch the window again.
          queueMicrotask(() => sub === this.#sub && this.#restart());
          return;
        }
        this.#hooks.item(item, topic);
      }
    } catch (e) {
      console.warn(`tickcast: chart subscription ${topic}: ${e.message}`);
    }
  }
}
