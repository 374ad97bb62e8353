// The tickcast live board's entry point: wires the live feed's hooks (live.js, built on the
// JavaScript client library), the chart's bar subscription (chart-feed.js) and the order
// book's (book-feed.js) to the model (state.js, bars.js) and the views (table, chart, ladder,
// sparklines, stats, pattern box), runs the per-frame render, and exposes window.tickcast for
// the console and the end-to-end test.
//
// Data flow: every item of the stream is applied to plain JS state at once (cheap, O(1));
// the DOM and the canvases are only touched in requestAnimationFrame, once per frame,
// for the rows that changed, so thousands of ticks per second cost one render per frame.
// The page makes no HTTP request after loading: history and live data come over the one
// socket (each topic's subscription starts with its last messages: `rewind`).
import { toNumber } from "./msgpack.js";
import { nowWallMs, serverClock } from "./clock.js";
import { Live } from "./live.js";
import { ChartFeed } from "./chart-feed.js";
import { BookFeed } from "./book-feed.js";
import { ladderShown, renderLadder } from "./ladder.js";
import { BarSeries } from "./bars.js";
import { RANGES, TICK_REWIND, barTopic, rangeOf } from "./ranges.js";
import { drainRecords, recordItem } from "./record.js";
import { applyGap, applyLagged, applySnapshot, applyStatus, applyTick, state } from "./state.js";
import { requestSnapshot, resetSnapshotRequests } from "./snapshot-fetch.js";
import { placeRow, refilterRows, renderRow, updateEmpty } from "./table.js";
import { chartCanvas, chartView, drawChart, renderChartHead } from "./chart.js";
import { drawSparkline } from "./sparkline.js";
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
  // latency sample: our clock, moved onto the server's clock by the ping/pong estimate; not
  // for the history a subscription starts with (trades from before its ack)
  const tsMs = toNumber(m.ts) / 1e6;
  if (tsMs >= state.liveFromMs) recordLatency(recvMs, recvMs + serverClock.offsetMs - tsMs);
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
    state.liveFromMs = nowWallMs() + serverClock.offsetMs; // what comes first now is history
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
}, { rewind: TICK_REWIND });
state.feed = live.feed;

// ---------------------------------------------------------------- the chart's bars

const chartFeed = new ChartFeed(live.feed, {
  start(topic) {
    // a new window is coming: the chart refills from it
    state.bars.set(topic, new BarSeries(topic, rangeOf(topic.split(".")[1]).intervalMs));
    state.chartDirty = true;
    scheduleRender();
  },
  item(m, topic) {
    if (m.type !== "bar" || m.topic !== topic) return;
    state.bars.get(topic)?.add(m);
    if (topic === state.chartTopic) state.chartDirty = true;
    scheduleRender();
  },
});

/** The chart follows the bar topic of the selected symbol and range (none for ticks). */
function followChart() {
  const range = rangeOf(state.range);
  const topic = barTopic(range, state.selected);
  if (topic === state.chartTopic) return;
  if (state.chartTopic) state.bars.delete(state.chartTopic);
  state.chartTopic = topic;
  chartFeed.follow(topic, range.rewind);
}

// ---------------------------------------------------------------- the order book

const bookFeed = new BookFeed(live.feed, {
  item(m) {
    if (m.type === "book") state.counters.books++;
    else if (m.type === "book_update") state.counters.bookUpdates++;
  },
  book(book) {
    state.book = book; // verified by the library: its prev_seq chain and checksum
    state.bookDirty = true;
    scheduleRender();
  },
});

/** The ladder follows the book topic of the selected symbol. */
function followBook() {
  const symbol = state.rows.get(state.selected)?.symbol;
  const topic = symbol ? `book.${symbol}` : null;
  if (topic === state.bookTopic) return;
  state.bookTopic = topic;
  state.book = null;
  state.bookDirty = true;
  bookFeed.follow(topic);
}

// ---------------------------------------------------------------- rendering

let sparkAt = 0;
let offscreenAt = 0;
let chartAt = 0;

onFrame((now) => {
  followChart();
  followBook();
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
  if (state.bookDirty) {
    state.bookDirty = false;
    renderLadder();
  }
  updateEmpty();
  if (sparkPending || chartPending) scheduleRender();
});

// ---------------------------------------------------------------- start


/** Shows range `key` (ranges.js): its button pressed, its history asked for. */
function setRange(key) {
  state.range = rangeOf(key).key;
  for (const o of document.querySelectorAll(".range button")) o.setAttribute("aria-pressed", String(o.dataset.range === state.range));
  const url = new URL(location.href);
  if (url.searchParams.get("range") !== state.range) {
    url.searchParams.set("range", state.range);
    history.replaceState(null, "", url);
  }
  followChart();
  state.chartDirty = true;
  scheduleRender();
}

for (const b of document.querySelectorAll(".range button")) b.addEventListener("click", () => setRange(b.dataset.range));
setRange(new URLSearchParams(location.search).get("range") ?? state.range);

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
  /** The chart: its range and bar topic, the closed bars held (the window, then live ones), the last and the forming one. */
  chart() {
    const series = state.bars.get(state.chartTopic);
    const row = state.rows.get(state.selected);
    const last = series?.last;
    const forming = row && series ? series.forming(row.hist) : null;
    const view = chartView();
    return {
      range: state.range, topic: state.chartTopic, selected: state.selected,
      epoch: series?.epoch == null ? null : String(series.epoch),
      bars: series?.length ?? 0, received: series?.received ?? 0, shown: view?.candles ?? 0,
      last: last ? { t: last.t, close: last.c, seq: last.seq } : null,
      forming: forming ? { t: forming.t, close: forming.c, high: forming.h, low: forming.l } : null,
      ticks: row?.hist.len ?? 0, ranges: RANGES.map((r) => r.key),
    };
  },
  /** The order book beside the chart: its topic, the verified book, and what the ladder shows. */
  book() {
    const b = state.book;
    return {
      topic: state.bookTopic, selected: state.selected, last: state.rows.get(state.selected)?.last ?? null,
      seq: b?.seq ?? null, depth: b?.depth ?? null, epoch: b ? String(b.epoch) : null,
      bids: b ? b.bids.map((l) => [...l]) : [], asks: b ? b.asks.map((l) => [...l]) : [],
      spread: b?.spread ?? null, checksum: b ? b.checksum() : null,
      books: state.counters.books, updates: state.counters.bookUpdates, resyncs: live.feed.stats.bookResyncs,
      shown: ladderShown(),
    };
  },
  /** Drops the connection as a network blip would; the page reconnects and resumes every topic. */
  reconnect() { live.drop(); },
  rows() {
    return [...state.rows.values()].filter((r) => r.visible).map((r) => ({
      topic: r.topic, symbol: r.symbol, seq: r.seq, last: r.last, prevClose: r.prevClose, volume: toNumber(r.volume),
      points: r.hist.len, // price-history buckets: the sparkline's and the tick line's
    }));
  },
};
