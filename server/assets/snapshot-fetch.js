// Session fields (prev_close, open, high, low) for topics that got no snapshot: a topic
// that had no data yet when we subscribed (a server that just started) starts with a
// plain tick. The server sends snapshots only to new subscribers of a topic, so they are
// fetched over a short-lived second connection (subscribe to the exact topics, take the
// snapshots, close); seq and prices keep coming from the main stream.
// Batched per 250 ms, one such connection at a time.
import { decode, encode, toNumber } from "./msgpack.js";
import { SUBPROTOCOL, wsUrl } from "./connection.js";
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
  if (!state.snapshotFlush && !state.snapshotSocket) state.snapshotFlush = setTimeout(fetchSnapshots, BATCH_MS);
}

/** A new main connection: nothing requested yet, every row may try again. */
export function resetSnapshotRequests() {
  state.snapshotWanted.clear();
  for (const row of state.rows.values()) {
    row.snapshotRequested = false;
    row.snapshotTries = 0;
  }
}

function fetchSnapshots() {
  state.snapshotFlush = 0;
  if (state.snapshotSocket || state.conn !== "live") return;
  const limit = Math.max(1, toNumber(state.welcome?.max_subscriptions ?? 64));
  const topics = [...state.snapshotWanted].slice(0, limit);
  if (topics.length === 0) return;
  for (const t of topics) state.snapshotWanted.delete(t);
  state.counters.snapshotFetches++;
  const left = new Set(topics);
  const ws = new WebSocket(wsUrl(), SUBPROTOCOL);
  ws.binaryType = "arraybuffer";
  state.snapshotSocket = ws;
  const finish = () => {
    clearTimeout(timer);
    ws.onmessage = ws.onclose = null;
    try { ws.close(1000); } catch { /* closing already */ }
    if (state.snapshotSocket === ws) state.snapshotSocket = null;
    for (const t of left) { // not answered: try again on the next tick
      const row = state.rows.get(t);
      if (row && row.prevClose === undefined) row.snapshotRequested = false;
    }
    if (state.snapshotWanted.size) state.snapshotFlush = setTimeout(fetchSnapshots, BATCH_MS);
  };
  const timer = setTimeout(finish, FETCH_TIMEOUT_MS);
  ws.onclose = finish;
  ws.onmessage = (ev) => {
    let m;
    try { m = decode(ev.data); } catch { finish(); return; }
    if (m.type === "welcome") {
      ws.send(encode({ type: "subscribe", id: 1, topics }));
    } else if (m.type === "snapshot") {
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
      if (left.size === 0) finish();
    } else if (m.type === "error") {
      finish();
    }
  };
}
