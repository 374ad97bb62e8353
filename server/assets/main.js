// The tickcast live board's entry point: wires the live feed's hooks (live.js, built on the
// JavaScript client library) to the model (state.js) and the views (table, chart, stats,
// pattern box), runs the per-frame render, and exposes window.tickcast for the console and
// the end-to-end test.
//
// Data flow: every item of the stream is applied to plain JS state at once (cheap, O(1));
// the DOM and the canvases are only touched in requestAnimationFrame, once per frame,
// for the rows that changed, so thousands of ticks per second cost one render per frame.
// The page makes no HTTP request after loading: everything live comes over the socket.
import { toNumber } from "./msgpack.js";
import { serverClock } from "./clock.js";
import { Live } from "./live.js";
import { drainRecords, recordItem } from "./record.js";
import { applyGap, applyLagged, applySnapshot, applyStatus, applyTick, state } from "./state.js";
import { requestSnapshot, resetSnapshotRequests } from "./snapshot-fetch.js";
import { placeRow, refilterRows, renderRow, updateEmpty } from "./table.js";
import { chartCanvas, drawChart, drawSparkline, renderChartHead } from "./chart.js";
import { STATS_EVERY_MS, recordLatency, showRoundTrip, updateFooter, updateStats } from "./stats.js";
import { initPatternBox, markPatternInvalid, setPatternMsg } from "./pattern-box.js";
import { onFrame, scheduleRender } from "./frame.js";

const SPARK_EVERY_MS = 120; // sparklines redraw at most ~8x per second
const CHART_EVERY_MS = 50; // the big chart at most 20x per second
const OFFSCREEN_EVERY_MS = 1000; // table rows scrolled out of view

const connIndicator = document.getElementById("conn");
const connText = document.getElementById("conn-text");

// ---------------------------------------------------------------- feed -> model

function setConn(next, text) {
  if (state.conn !== next) {
    state.conn = next;
    state.connLog.push([Date.now(), next]);
    if (state.connLog.length > 100) state.connLog.shift();
    connIndicator.dataset.state = next;
    document.body.dataset.conn = next;
  }
  if (connText.textContent !== text) connText.textContent = text;
}

function onTick(m, recvMs) {
  const row = applyTick(m);
  if (!row) return;
  placeRow(row);
  if (row.prevClose === undefined) requestSnapshot(row);
  // latency sample: our clock, moved onto the server's clock by the ping/pong estimate
  recordLatency(recvMs, recvMs + serverClock.offsetMs - toNumber(m.ts) / 1e6);
}

function onWelcome(m) {
  state.welcome = m;
  state.epoch = m.epoch;
  resetSnapshotRequests();
  updateFooter();
  updateEmpty();
}

/** One item of the stream: a message, or the library's `gap` right before the one it concerns. */
function onItem(m, recvMs) {
  switch (m.type) {
    case "tick": onTick(m, recvMs); break;
    case "snapshot": {
      const row = applySnapshot(m);
      if (row) placeRow(row);
      break;
    }
    case "status": applyStatus(m); break;
    case "lagged": applyLagged(m); break;
    case "gap": applyGap(m); break;
    case "error": console.warn("tickcast: server error", m); break; // rate_limited, bad_frame
    case "bar": break; // the board charts ticks; bars.* topics are accepted but not drawn
    default:
      console.debug("tickcast: ignoring item", m);
  }
  recordItem(m);
  scheduleRender();
}

// The Topics box sets the first patterns (?topics= or its default) and applies later ones.
initPatternBox((patterns) => live.setPatterns(patterns));

const live = new Live(state.patterns, {
  state: setConn,
  welcome: onWelcome,
  item: onItem,
  subscribed(patterns) {
    if (patterns.join(" ") === state.patterns.join(" ")) setPatternMsg(`subscribed to ${patterns.join(" ")}`, "ok");
  },
  rejected(e, following) {
    // The server changed nothing: go back to what the stream follows.
    setPatternMsg(`${e.code}: ${e.reason}`, "error");
    markPatternInvalid(true);
    if (following.length) {
      state.patterns = [...following];
      refilterRows();
    }
  },
  roundTrip(sentMs, recvMs, serverTsMs) {
    showRoundTrip(serverClock.addRoundTrip(sentMs, recvMs, serverTsMs));
  },
  disconnected() {
    for (const row of state.rows.values()) row.hist.markBreak();
    state.welcome = null;
  },
  retryScheduled() {
    state.counters.reconnects++;
    updateEmpty();
  },
});
state.feed = live.feed;

// ---------------------------------------------------------------- rendering

let sparkAt = 0;
let offscreenAt = 0;
let chartAt = 0;

onFrame((now) => {
  const sparkDue = now - sparkAt >= SPARK_EVERY_MS;
  let sparkPending = false;
  // rows scrolled out of view are kept current once a second (no canvas work for them)
  const offscreenDue = now - offscreenAt >= OFFSCREEN_EVERY_MS;
  if (offscreenDue) offscreenAt = now;
  for (const row of state.rows.values()) {
    if (!row.visible || !row.dom) continue;
    if (row.dirty && (row.onscreen || offscreenDue)) {
      row.dirty = false;
      renderRow(row);
    }
    if (row.sparkDirty && row.onscreen) {
      if (sparkDue) {
        row.sparkDirty = false;
        drawSparkline(row);
      } else sparkPending = true;
    }
  }
  if (sparkDue) sparkAt = now;
  if (state.headDirty) {
    state.headDirty = false;
    renderChartHead();
  }
  let chartPending = false;
  if (state.chartDirty) {
    if (now - chartAt >= CHART_EVERY_MS) {
      state.chartDirty = false;
      chartAt = now;
      drawChart();
    } else chartPending = true;
  }
  updateEmpty();
  if (sparkPending || chartPending) scheduleRender();
});

// ---------------------------------------------------------------- start


for (const b of document.querySelectorAll(".range button")) {
  b.addEventListener("click", () => {
    state.chartRangeMs = Number(b.dataset.range);
    for (const o of document.querySelectorAll(".range button")) o.setAttribute("aria-pressed", String(o === b));
    state.chartDirty = true;
    scheduleRender();
  });
}

window.addEventListener("resize", () => {
  state.chartDirty = true;
  scheduleRender();
});
new ResizeObserver(() => {
  state.chartDirty = true;
  scheduleRender();
}).observe(chartCanvas);

// Waiting out a backoff makes no sense once the network is back or the user looks again.
window.addEventListener("online", () => live.reconnectNow());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") live.reconnectNow();
});

setInterval(updateStats, STATS_EVERY_MS);
updateFooter();

// A read-only view for debugging in the console and for the end-to-end test.
window.tickcast = {
  /** With ?record=1: what arrived since the last call (see record.js). */
  drainRecords,
  get conn() { return state.conn; },
  get connLog() { return state.connLog.slice(); },
  get patterns() { return state.patterns.slice(); },
  get subscriptions() { return live.feed.subscriptions.slice(); },
  get counters() {
    const fs = live.feed.stats;
    return { ...state.counters, frames: fs.frames, badFrames: fs.undecodable, duplicates: fs.duplicates };
  },
  get epoch() { return state.epoch === null ? null : String(state.epoch); },
  /** Drops the connection as a network blip would; the page reconnects and resumes every topic. */
  reconnect() { live.drop(); },
  rows() {
    return [...state.rows.values()].filter((r) => r.visible).map((r) => ({
      topic: r.topic, symbol: r.symbol, seq: r.seq, last: r.last, prevClose: r.prevClose, volume: toNumber(r.volume),
    }));
  },
};
