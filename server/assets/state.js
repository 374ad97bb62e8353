// The page's model, plain JS and no DOM: one row per topic seen (prices, session
// statistics, [epoch, seq] position, history), the wanted patterns, the selection, the
// counters, and the dirty flags the frame render reads. The stream's items are applied here
// at once; the client library has already put them in order, without duplicates, with a
// `gap` item before every loss.
import { toNumber } from "./msgpack.js";
import { History, HISTORY_POINTS } from "./price-history.js";
import { patternMatches } from "./patterns.js";
import { DEFAULT_RANGE } from "./ranges.js";

export const state = {
  // the connection as live.js last reported it
  conn: "connecting",
  connLog: [], // [wall ms, state] transitions, for humans and the e2e test
  feed: null, // the library's Feed (stats, the server's patterns), set by main.js
  welcome: null, // of the current connection
  epoch: null, // welcome.epoch of the current connection
  patterns: [], // what we subscribe to (set by pattern-box.js)
  matchCache: new Map(), // topic -> matches state.patterns
  snapshotWanted: new Set(), // topics to fetch a snapshot for (snapshot-fetch.js)
  snapshotFlush: 0,
  snapshotFeed: null,
  rows: new Map(), // topic -> row (kept while hidden, so history survives pattern changes)
  selected: null, // topic
  range: DEFAULT_RANGE, // the chart's range: "ticks" or a bar interval (ranges.js)
  chartTopic: null, // the bar topic the chart follows (chart-feed.js), null for ticks
  bars: new Map(), // bar topic -> BarSeries (bars.js)
  bookTopic: null, // the book topic the ladder follows (book-feed.js): book.SYM of the selection
  book: null, // its verified OrderBook (the client library's), null until its first book
  liveFromMs: Infinity, // server-clock ms: ticks older than this are history (no latency sample)
  // frames, undecodable frames and duplicates are the library's: state.feed.stats
  counters: { ticks: 0, snapshots: 0, gaps: 0, conflated: 0, lagged: 0, reconnects: 0, recoveredFalse: 0, snapshotFetches: 0, books: 0, bookUpdates: 0 },
  chartDirty: true,
  bookDirty: true,
  headDirty: true,
};

function createRow(topic, symbol) {
  const row = {
    topic, symbol,
    epoch: null, seq: null, snapshotRequested: false, snapshotTries: 0,
    last: undefined, prevClose: undefined, open: undefined, high: undefined, low: undefined,
    bid: undefined, ask: undefined, volume: undefined, size: undefined, state: "open",
    dir: 0, flashToggle: 0, flashPending: false,
    hist: new History(HISTORY_POINTS),
    dirty: true, sparkDirty: true, visible: false, onscreen: true,
    dom: null,
  };
  state.rows.set(topic, row);
  return row;
}

/** Whether the current patterns cover `topic` (cached: asked for every tick). */
export function rowMatches(topic) {
  let m = state.matchCache.get(topic);
  if (m === undefined) {
    m = state.patterns.some((p) => patternMatches(p, topic));
    state.matchCache.set(topic, m);
  }
  return m;
}

/** Marks a row's whole display dirty, and the chart's if it is the selected one. */
export function markRowChanged(row) {
  row.dirty = row.sparkDirty = true;
  if (row.topic === state.selected) state.headDirty = state.chartDirty = true;
}

function applyPrice(row, price, tsMs, flash) {
  if (flash && row.last !== undefined && price !== row.last) {
    row.dir = price > row.last ? 1 : -1;
    row.flashPending = true;
  }
  row.last = price;
  if (row.high === undefined || price > row.high) row.high = price;
  if (row.low === undefined || price < row.low) row.low = price;
  row.hist.push(tsMs, price);
  markRowChanged(row);
}

/**
 * A `tick` (the library gives it its topic's epoch). Returns the row it updated, or null (in
 * flight from a pattern we just dropped).
 */
export function applyTick(m) {
  if (!rowMatches(m.topic)) return null; // in flight from a pattern we just dropped
  const row = state.rows.get(m.topic) ?? createRow(m.topic, m.symbol);
  state.counters.ticks++;
  row.epoch = m.epoch;
  row.seq = m.seq;
  applyPrice(row, m.price, toNumber(m.ts) / 1e6, true);
  row.bid = m.bid;
  row.ask = m.ask;
  row.size = toNumber(m.size);
  row.volume = toNumber(m.volume);
  return row;
}

/** A `snapshot`: the topic's position, session statistics and quote. Returns its row or null. */
export function applySnapshot(m) {
  if (!rowMatches(m.topic)) return null;
  const row = state.rows.get(m.topic) ?? createRow(m.topic, m.symbol);
  state.counters.snapshots++;
  if (m.recovered === false) state.counters.recoveredFalse++;
  // not where the row left off (a topic followed again, a failed resume): the line breaks
  if (row.seq !== null && m.seq !== row.seq + 1) row.hist.markBreak();
  row.epoch = m.epoch;
  row.seq = m.seq;
  row.prevClose = m.prev_close;
  row.open = m.open;
  row.high = m.high;
  row.low = m.low;
  row.bid = m.bid;
  row.ask = m.ask;
  row.size = toNumber(m.size);
  row.volume = toNumber(m.volume);
  row.state = m.state ?? "open";
  applyPrice(row, m.price, toNumber(m.ts) / 1e6, row.last !== undefined);
  row.high = m.high;
  row.low = m.low;
  return row;
}

/** A `status` (trading state: open, halted, ...). */
export function applyStatus(m) {
  const row = state.rows.get(m.topic);
  if (!row) return;
  row.state = m.state;
  row.dirty = true;
  if (row.topic === state.selected) state.headDirty = true;
}

/** A `lagged` notice: the server conflated our queue; the seq jumps come as `gap` items. */
export function applyLagged(m) {
  state.counters.lagged += toNumber(m.dropped);
}

/**
 * A `gap` item, right before the message that reveals the loss. A seq jump with a reason (a
 * `lagged`, `max_rate`, the library's own buffer) is conflation; one without is a gap. A failed
 * resume or a new epoch needs nothing here: the snapshot that follows resets the row.
 */
export function applyGap(g) {
  if (g.cause !== "seq_jump" && g.cause !== "client_buffer") return;
  if (g.announced) {
    state.counters.conflated += g.missed;
    return;
  }
  state.counters.gaps += g.missed;
  console.warn(`tickcast: gap on ${g.topic}: ${g.missed} missed from seq ${g.expected}`);
}
