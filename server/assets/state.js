// The page's model, plain JS and no DOM: one row per topic seen (prices, session
// statistics, [epoch, seq] position, history), the wanted patterns, the selection, the
// counters, and the dirty flags the frame render reads. Messages are applied here at once.
import { toNumber } from "./msgpack.js";
import { History, HISTORY_POINTS } from "./history.js";
import { patternMatches } from "./patterns.js";

/** `?max_rate=N`: ask the server to conflate to at most N messages/s per topic. */
export const MAX_RATE = Number(new URLSearchParams(location.search).get("max_rate")) || undefined;

export const state = {
  // the connection as connection.js last reported it
  conn: "connecting",
  connLog: [], // [wall ms, state] transitions, for humans and the e2e test
  welcome: null, // of the current connection
  epoch: null, // welcome.epoch of the current connection (BigInt: exact)
  patterns: [], // what we subscribe to (set by pattern-box.js)
  subscriptions: [], // as the server last acked them
  matchCache: new Map(), // topic -> matches state.patterns
  snapshotWanted: new Set(), // topics to fetch a snapshot for (snapshot-fetch.js)
  snapshotFlush: 0,
  snapshotSocket: null,
  rows: new Map(), // topic -> row (kept while hidden, so history survives pattern changes)
  selected: null, // topic
  chartRangeMs: 300000,
  counters: { frames: 0, ticks: 0, snapshots: 0, gaps: 0, conflated: 0, duplicates: 0, lagged: 0, badFrames: 0, reconnects: 0, recoveredFalse: 0, snapshotFetches: 0 },
  chartDirty: true,
  headDirty: true,
};

function createRow(topic, symbol) {
  const row = {
    topic, symbol,
    epoch: null, seq: null, lagged: false, snapshotRequested: false, snapshotTries: 0,
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
 * A `tick`: per topic, seq must grow by one; jumps are counted as gaps (or as conflation
 * after a `lagged` notice or with max_rate), repeats are dropped as duplicates. Returns
 * the row it updated, or null (a duplicate, or in flight from a pattern we just dropped).
 */
export function applyTick(m) {
  if (!rowMatches(m.topic)) return null; // in flight from a pattern we just dropped
  const row = state.rows.get(m.topic) ?? createRow(m.topic, m.symbol);
  state.counters.ticks++;
  const seq = toNumber(m.seq);
  // The topic's epoch is the one its own snapshot named (in a cluster it differs from the
  // welcome.epoch of the node we are on); a tick keeps it.
  if (row.epoch !== null && row.seq !== null) {
    if (seq <= row.seq) {
      state.counters.duplicates++;
      return null;
    }
    if (seq > row.seq + 1) {
      const missed = seq - row.seq - 1;
      if (row.lagged || MAX_RATE) state.counters.conflated += missed;
      else {
        state.counters.gaps += missed;
        console.warn(`tickcast: gap on ${m.topic}: ${row.seq} -> ${seq} (${missed} missed)`);
      }
    }
  }
  row.lagged = false;
  if (row.epoch === null) row.epoch = state.epoch;
  row.seq = seq;
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
  row.epoch = m.epoch;
  row.seq = toNumber(m.seq);
  row.lagged = false;
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

/** A `lagged` notice: the next seq jump on these topics is conflation, not a gap. */
export function applyLagged(m) {
  state.counters.lagged += toNumber(m.dropped);
  for (const t of m.topics ?? []) {
    const row = state.rows.get(t);
    if (row) row.lagged = true;
  }
}

/** `since` for every row we hold that the given patterns cover and that has a position. */
export function sincePositions(patterns) {
  const since = {};
  let n = 0;
  for (const row of state.rows.values()) {
    if (row.epoch === null || row.seq === null) continue;
    if (row.prevClose === undefined) continue; // never had a snapshot: ask for one
    if (!patterns.some((p) => patternMatches(p, row.topic))) continue;
    since[row.topic] = [row.epoch, row.seq];
    n++;
  }
  return n ? since : undefined;
}
