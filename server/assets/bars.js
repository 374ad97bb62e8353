// The candles of one bar topic (`bars.1m.AAPL`): its closed bars, as the server sent them (the
// rewind window, then live ones, in seq order), and the bar still forming, drawn from the
// ticks the page has of the symbol until the server's closed bar replaces it.
import { toNumber } from "./msgpack.js";

/** Closed bars kept per topic (the longest window, 1s: 300, with room to spare). */
const CAPACITY = 1000;

/** One bar topic's closed bars, oldest first: t (interval start, ms), o, h, l, c, v, seq. */
export class BarSeries {
  constructor(topic, intervalMs) {
    this.topic = topic;
    this.intervalMs = intervalMs;
    this.bars = [];
    /** The epoch of the bars held (a new epoch starts over). */
    this.epoch = null;
    /** Bars received since the series (re)started: the window, then live ones. */
    this.received = 0;
  }

  get length() {
    return this.bars.length;
  }

  get last() {
    return this.bars[this.bars.length - 1];
  }

  /** Forgets every bar (the subscription starts over and its window refills it). */
  clear() {
    this.bars = [];
    this.epoch = null;
    this.received = 0;
  }

  /** Adds a `bar` message (a bar of the same interval start replaces the one held). */
  add(m) {
    if (this.epoch !== null && m.epoch !== this.epoch) this.bars = [];
    this.epoch = m.epoch;
    this.received++;
    const bar = {
      t: toNumber(m.ts) / 1e6, o: m.open, h: m.high, l: m.low, c: m.close,
      v: toNumber(m.volume), seq: m.seq,
    };
    const last = this.last;
    if (!last || bar.t > last.t) this.bars.push(bar);
    else {
      const i = this.bars.findIndex((b) => b.t >= bar.t);
      if (this.bars[i].t === bar.t) this.bars[i] = bar;
      else this.bars.splice(i, 0, bar);
    }
    if (this.bars.length > CAPACITY) this.bars.splice(0, this.bars.length - CAPACITY);
  }

  /** Index of the first bar starting at or after `tMs`. */
  firstFrom(tMs) {
    let lo = 0;
    let hi = this.bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bars[mid].t < tMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The bar still forming, from `hist` (the symbol's price history: 250 ms buckets of last,
   * low and high): the interval of its latest trade, when no closed bar covers it yet; opened
   * at the previous bar's close when that one ends where it starts. Null when there is none.
   */
  forming(hist) {
    if (!hist || hist.len === 0) return null;
    const lastT = hist.t[hist.at(hist.len - 1)];
    const t = Math.floor(lastT / this.intervalMs) * this.intervalMs;
    const prev = this.last;
    if (prev && prev.t >= t) return null; // closed already
    let h = -Infinity;
    let l = Infinity;
    let first;
    for (let k = hist.firstFrom(t); k < hist.len; k++) {
      const i = hist.at(k);
      if (first === undefined) first = hist.c[i];
      if (hist.hi[i] > h) h = hist.hi[i];
      if (hist.lo[i] < l) l = hist.lo[i];
    }
    if (first === undefined) return null;
    const o = prev && prev.t + this.intervalMs === t ? prev.c : first;
    const c = hist.c[hist.at(hist.len - 1)];
    return { t, o, h: Math.max(h, o), l: Math.min(l, o), c, forming: true };
  }
}
