// The numbers in the top bar and the footer: messages/s, tick latency percentiles over
// the last 5 s, round-trip time, gaps, and the server / subscriptions / counters line.
import { fmtInt, fmtMs } from "./format.js";
import { nowWallMs } from "./clock.js";
import { SUBPROTOCOL } from "./index.js";
import { WS_URL } from "./live.js";
import { state } from "./state.js";
import { scheduleRender } from "./frame.js";

const LATENCY_WINDOW_MS = 5000;
/** How often the top bar and footer are refreshed. */
export const STATS_EVERY_MS = 500;

const $ = (id) => document.getElementById(id);
const el = {
  rate: $("stat-rate"), p50: $("stat-p50"), p99: $("stat-p99"), rtt: $("stat-rtt"), gaps: $("stat-gaps"),
  footServer: $("foot-server"), footSubs: $("foot-subs"), footCounters: $("foot-counters"),
};

const rate = { frames: 0, since: performance.now(), value: 0 }; // frames: the feed's count at `since`
const latency = { t: new Float64Array(8192), v: new Float64Array(8192), n: 0 }; // ring of (receive wall ms, latency ms)

/** Frames received over every connection (the client library counts them). */
const framesTotal = () => state.feed?.stats.frames ?? 0;

/** One tick's latency sample, taken at `recvMs` (wall clock). */
export function recordLatency(recvMs, latencyMs) {
  const i = latency.n++ % latency.t.length;
  latency.t[i] = recvMs;
  latency.v[i] = latencyMs;
}

/** The round trip of the last ping. */
export function showRoundTrip(rttMs) {
  el.rtt.textContent = fmtMs(rttMs);
}

function percentile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Refreshes the top bar and the footer (every STATS_EVERY_MS). */
export function updateStats() {
  const now = performance.now();
  const dt = (now - rate.since) / 1000;
  const frames = framesTotal();
  const inst = (frames - rate.frames) / dt;
  rate.value = rate.value === 0 ? inst : rate.value * 0.5 + inst * 0.5;
  rate.frames = frames;
  rate.since = now;
  el.rate.textContent = fmtInt(rate.value);

  const cutoff = nowWallMs() - LATENCY_WINDOW_MS;
  const n = Math.min(latency.n, latency.t.length);
  const vals = [];
  for (let i = 0; i < n; i++) if (latency.t[i] >= cutoff) vals.push(latency.v[i]);
  const sorted = Float64Array.from(vals).sort();
  el.p50.textContent = fmtMs(percentile(sorted, 0.5));
  el.p99.textContent = fmtMs(percentile(sorted, 0.99));

  el.gaps.textContent = fmtInt(state.counters.gaps);
  el.gaps.classList.toggle("bad", state.counters.gaps > 0);
  if (state.conn !== "live") el.rtt.textContent = "–";
  updateFooter();
  // keep the chart's time axis moving even when the selected symbol is quiet
  state.chartDirty = true;
  scheduleRender();
}

/** The footer: server and protocol (or where we connect), subscriptions, counters. */
export function updateFooter() {
  const w = state.welcome;
  el.footServer.textContent = w
    ? `${w.server} · protocol v${w.protocol} · epoch ${w.epoch}`
    : `${WS_URL} · ${SUBPROTOCOL}`;
  el.footSubs.textContent = `subscriptions: ${state.feed?.subscriptions.join(" ") || "–"}`;
  const c = state.counters;
  el.footCounters.textContent =
    `frames ${fmtInt(framesTotal())} · ticks ${fmtInt(c.ticks)} · snapshots ${fmtInt(c.snapshots)}` +
    ` · conflated ${fmtInt(c.conflated + c.lagged)} · dup ${fmtInt(state.feed?.stats.duplicates ?? 0)} · reconnects ${fmtInt(c.reconnects)}`;
}
