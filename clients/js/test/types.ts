// Compiled by `tsc --noEmit` (never run): the README's examples type-check against index.d.ts.
import { connect, history, httpBase, matches, closeAdvice, crc32, OrderBook, DEPTHS, TickcastError, type Ack, type Item, type Gap, type History, type Level } from "../index.js";

export async function readme(): Promise<void> {
  const feed = await connect("ws://127.0.0.1:8080/ws", { token: "t", max_rate: 4, since: { "ticks.AAPL": [1764072000123456, 41] } });
  for await (const msg of feed.subscribe("ticks.AAPL")) console.log(msg.type, msg.topic, msg.seq);
  for await (const item of feed.subscribe(["ticks.*", "bars.1m.*"], { snapshot: false })) {
    switch (item.type) {
      case "tick": {
        const ts: bigint = item.ts;
        const seq: number = item.seq;
        console.log(item.price, item.epoch, ts, seq);
        break;
      }
      case "gap": {
        const gap: Gap = item;
        console.log(gap.cause, gap.expected, gap.received, gap.missed, gap.announced);
        break;
      }
      case "lagged":
        console.log(item.dropped);
        break;
    }
  }
  const ack = await feed.publish("fx.EURUSD", 1.08, 100, 1.07, null);
  console.log(ack.op, await feed.list("ticks.*"), (await feed.ping()).ts, feed.positions());
  try {
    await feed.done;
  } catch (e) {
    if (e instanceof TickcastError) console.log(e.kind, e.status, e.closeCode, e.code, e.reason);
  }
  // Steering a running feed, as the server's web page does.
  const live = await connect("ws://127.0.0.1:8080/ws", {
    connectTimeoutMs: 0,
    maxBackoffMs: 15_000,
    onState: (state, detail) => console.log(state, detail?.delayMs, detail?.welcome?.epoch, detail?.shutdown?.reason, detail?.error?.message),
  });
  const sub = live.subscribe("ticks.*");
  const changed: Ack = await sub.setPatterns(["ticks.AAPL"]);
  const serverHas: string[] = live.subscriptions;
  const frames: number = live.stats.frames + live.stats.undecodable + live.stats.duplicates;
  live.reconnect();
  console.log(changed.subscriptions, serverHas, frames, sub.patterns);
  // History: the window first, then live, over the one connection; and over HTTP.
  for await (const item of live.subscribe("bars.1m.AAPL", { rewind: 390 })) {
    if (item.type === "bar") console.log(item.open, item.high, item.low, item.close, item.epoch);
    break;
  }
  const day: History = await live.history("bars.1m.AAPL", { limit: 390, from: new Date(Date.now() - 3_600_000) });
  for (const m of day.messages) if (m.type === "bar") console.log(m.ts, m.close);
  const last: History = await history(httpBase("ws://127.0.0.1:8080/ws"), "ticks.AAPL", { token: "t", from: 1764072000000000000n, to: "2026-12-03T10:00:00Z" });
  try {
    await live.history("ticks.NOPE");
  } catch (e) {
    if (e instanceof TickcastError && e.kind === "http") console.log(e.status, e.code);
  }
  console.log(day.epoch, last.messages.length);
  // Order books: every book and update verified, the book after it on the item.
  for await (const item of live.subscribe("book.AAPL", { depth: 10 })) {
    if (item.type === "book" || item.type === "book_update") {
      const { bids, asks, spread } = item.book; // verified; best first: [price, size]
      console.log(item.seq, bids[0], asks[0], spread);
    } else if (item.type === "gap") {
      console.warn(item.topic, item.cause, item.reason); // e.g. book_resync checksum: a fresh book follows
    }
    break;
  }
  const held: OrderBook | undefined = live.book("book.AAPL");
  const best: Level | undefined = held?.bestBid;
  const mine = new OrderBook({ tick_size: 0.01, depth: DEPTHS[0], bids: [[187.22, 300]], asks: [] });
  mine.apply({ seq: 2, bids: [[187.22, 0]] });
  const resyncs: number = live.stats.bookResyncs;
  console.log(best, mine.checksum() === crc32(mine.checksumText()), mine.clone().spread, resyncs);
  const items: Item[] = [];
  console.log(items, matches("ticks.*", "ticks.AAPL"), closeAdvice(4001));
  feed.close();
}
