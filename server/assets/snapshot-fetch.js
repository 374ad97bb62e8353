// Session fields (prev_close, open, high, low) for topics whose stream began with a plain
// tick and no snapshot. A topic's first trade normally arrives as a snapshot (PROTOCOL.md §8),
// but under `max_rate` or a server's conflation (lagged) a newer tick can replace it. The
// server sends snapshots only to new subscribers of a topic, so they are fetched with a
// short-lived second feed of the client library (subscribe to the exact topics, take the
// snapshots, close); seq and prices keep coming from the main stream.
// Batched per 250 ms, one such feed at a time.
import { toNumber } from "./msgpack.js";
import { openFeed } from "./live.js";
import { markRowChanged, state } from "./state.js";
import { scheduleRender } from "./frame.js";

const BATCH_MS = 250;
const FETCH_TIMEOUT_MS = 5000;
const TRIES_PER_CONNECTION = 3;

/** Asks for `row`'s snapshot (at most 3 times per connection, only while live). */
export function requestSnapshot(row) {
  if (row.snapshotRequested || row.snapshotTries >= TRIES_PER_CONNECTION || state.conn !== "live") return;
  row.snapshotRequested = true;
  row.snapshotTries++;
  state.snapshotWanted.add(row.topic);
  if (!state.snapshotFlush && !state.snapshotFeed) state.snapshotFlush = setTimeout(fetchSnapshots, BATCH_MS);
}

/** A new main connection: nothing requested yet, every row may try again. */
export function resetSnapshotRequests() {
  state.snapshotWanted.clear();
  for (const row of state.rows.values()) {
    row.snapshotRequested = false;
    row.snapshotTries = 0;
  }
}

async function fetchSnapshots() {
  state.snapshotFlush = 0;
  if (state.snapshotFeed || state.conn !== "live") return;
  const limit = Math.max(1, toNumber(state.welcome?.max_subscriptions ?? 64));
  const topics = [...state.snapshotWanted].slice(0, limit);
  if (topics.length === 0) return;
  for (const t of topics) state.snapshotWanted.delete(t);
  state.counters.snapshotFetches++;
  const left = new Set(topics);
  // One attempt (a retry being scheduled ends it), and the whole fetch within FETCH_TIMEOUT_MS.
  const feed = openFeed({
    connectTimeoutMs: FETCH_TIMEOUT_MS,
    onState: (s) => (s === "connecting" || s === "reconnecting") && queueMicrotask(() => feed.close()),
  });
  state.snapshotFeed = feed;
  const timer = setTimeout(() => feed.close(), FETCH_TIMEOUT_MS);
  try {
    for await (const m of feed.subscribe(topics)) {
      if (m.type !== "snapshot") continue;
      left.delete(m.topic);
      const row = state.rows.get(m.topic);
      if (row && row.prevClose === undefined) {
        row.prevClose = m.prev_close;
        row.open = m.open;
        row.high = row.high === undefined ? m.high : Math.max(row.high, m.high);
        row.low = row.low === undefined ? m.low : Math.min(row.low, m.low);
        row.state = m.state ?? row.state;
        markRowChanged(row);
        scheduleRender();
      }
      if (left.size === 0) break;
    }
  } catch {
    /* refused, or no connection: what is left is asked for again on its next tick */
  } finally {
    clearTimeout(timer);
    feed.close();
    state.snapshotFeed = null;
    for (const t of left) { // not answered: try again on the next tick
      const row = state.rows.get(t);
      if (row && row.prevClose === undefined) row.snapshotRequested = false;
    }
    if (state.snapshotWanted.size) state.snapshotFlush = setTimeout(fetchSnapshots, BATCH_MS);
  }
}
