// The chart panel: the selected symbol over the chosen range (ranges.js), as the tick line
// (chart-ticks.js) or candles (candles.js), on one frame drawn here: price grid and axis,
// a time axis whose steps and labels fit the range, the prev-close reference, the last-price
// tag; and the price head above it.
import { fmtInt, fmtPrice, fmtSigned, priceDigits } from "./format.js";
import { serverClock } from "./clock.js";
import { state } from "./state.js";
import { rangeOf, timeLabel, timeStep } from "./ranges.js";
import { tickView } from "./chart-ticks.js";
import { candleView } from "./candles.js";

const $ = (id) => document.getElementById(id);
export const chartCanvas = $("chart");
const head = {
  symbol: $("chart-symbol"), state: $("chart-state"), last: $("chart-last"), change: $("chart-change"),
  open: $("chart-open"), high: $("chart-high"), low: $("chart-low"), prev: $("chart-prev"),
  quote: $("chart-quote"), volume: $("chart-volume"),
};

/** What the chart shows now (the tick line or candles), or null; also for window.tickcast. */
export function chartView() {
  const row = state.rows.get(state.selected);
  if (!row) return null;
  const range = rangeOf(state.range);
  if (!range.intervalMs) return tickView(row, Date.now() + serverClock.offsetMs);
  const series = state.bars.get(state.chartTopic);
  return series ? candleView(series, row.hist, range) : null;
}

function niceStep(range, target) {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Draws the selected row's chart over the chosen range (state.range). */
export function drawChart() {
  const canvas = chartCanvas;
  const dpr = devicePixelRatio || 1;
  const cssW = canvas.clientWidth;
  const cssH = canvas.clientHeight;
  if (cssW === 0 || cssH === 0) return;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const padL = 12, padR = 66, padT = 16, padB = 26;
  const f = { ctx, padL, padT, W: cssW - padL - padR, H: cssH - padT - padB };
  ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', Menlo, monospace";
  const row = state.rows.get(state.selected);
  const view = chartView();
  if (!row || !view) {
    ctx.fillStyle = "#566273";
    ctx.textAlign = "center";
    ctx.fillText(emptyText(row), cssW / 2, cssH / 2);
    return;
  }
  let { lo, hi } = view;
  const ref = row.prevClose;
  // keep prev close in view when it is near, so the reference line means something
  if (ref !== undefined && Math.abs(ref - (lo + hi) / 2) < (hi - lo) * 1.5 + ref * 0.002) {
    lo = Math.min(lo, ref);
    hi = Math.max(hi, ref);
  }
  const span = Math.max(hi - lo, Math.abs(hi) * 1e-4, 1e-6);
  lo -= span * 0.08;
  hi += span * 0.08;
  const { startT, endT } = view;
  const x = (tm) => padL + ((tm - startT) / (endT - startT)) * f.W;
  const y = (p) => padT + (1 - (p - lo) / (hi - lo)) * f.H;
  priceAxis(f, lo, hi, y);
  timeAxis(f, startT, endT, x);
  const refShown = ref !== undefined && ref >= lo && ref <= hi;
  if (refShown) prevCloseLine(f, ref, y);

  const up = ref !== undefined ? row.last >= ref : true;
  ctx.save();
  ctx.beginPath();
  ctx.rect(padL, padT, f.W, f.H);
  ctx.clip();
  view.draw(f, x, y, up);
  ctx.restore();
  if (refShown) prevCloseLabel(f, ref, y);
  lastTag(f, view.last, x, y, up ? "#22c983" : "#f2536d", rangeOf(state.range).intervalMs === 0);
}

function emptyText(row) {
  if (!row) return "select a symbol";
  const range = rangeOf(state.range);
  if (!range.intervalMs) return "waiting for ticks…";
  if (!state.chartTopic) return `no ${range.key} bars for ${row.topic}`;
  return `loading ${range.key} bars…`;
}

function priceAxis(f, lo, hi, y) {
  const { ctx, padL, W } = f;
  const step = niceStep(hi - lo, 6);
  const digits = step >= 1 ? 0 : Math.min(4, Math.max(2, -Math.floor(Math.log10(step))));
  ctx.lineWidth = 1;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (let p = Math.ceil(lo / step) * step; p <= hi; p += step) {
    const yy = Math.round(y(p)) + 0.5;
    ctx.strokeStyle = "#18212b";
    ctx.beginPath();
    ctx.moveTo(padL, yy);
    ctx.lineTo(padL + W, yy);
    ctx.stroke();
    ctx.fillStyle = "#6b7888";
    ctx.fillText(p.toFixed(digits), padL + W + 8, yy);
  }
}

// Lines at round times of the range's scale, labelled in local time (times are the server's).
function timeAxis(f, startT, endT, x) {
  const { ctx, padL, padT, W, H } = f;
  const span = endT - startT;
  const step = timeStep(span);
  // whole steps of local time (an hour step starts on the hour here, not in UTC)
  const tz = new Date(startT).getTimezoneOffset() * 60_000;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let tm = Math.ceil((startT - tz) / step) * step + tz; tm <= endT; tm += step) {
    const xx = Math.round(x(tm)) + 0.5;
    ctx.strokeStyle = "#141c25";
    ctx.beginPath();
    ctx.moveTo(xx, padT);
    ctx.lineTo(xx, padT + H);
    ctx.stroke();
    if (xx > padL + 24 && xx < padL + W - 24) {
      ctx.fillStyle = "#6b7888";
      ctx.fillText(timeLabel(tm, step, span), xx, padT + H + 8);
    }
  }
}

function prevCloseLine(f, ref, y) {
  const { ctx, padL, W } = f;
  const yy = Math.round(y(ref)) + 0.5;
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = "#3b4757";
  ctx.beginPath();
  ctx.moveTo(padL, yy);
  ctx.lineTo(padL + W, yy);
  ctx.stroke();
  ctx.setLineDash([]);
}

// Over the price line or candles, on the panel's colour, so that it stays readable.
function prevCloseLabel(f, ref, y) {
  const { ctx, padL } = f;
  const yy = Math.round(y(ref)) + 0.5;
  const text = `prev close ${fmtPrice(ref)}`;
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  ctx.fillStyle = "rgba(16,22,29,0.85)";
  ctx.fillRect(padL + 3, yy - 17, ctx.measureText(text).width + 6, 14);
  ctx.fillStyle = "#6b7888";
  ctx.fillText(text, padL + 6, yy - 3);
}

// The last price: a marker on the tick line, and its tag on the price axis.
function lastTag(f, last, x, y, color, marker) {
  const { ctx, padL, padT, W, H } = f;
  const lastY = y(last.price);
  ctx.fillStyle = color;
  if (marker) {
    ctx.beginPath();
    ctx.arc(x(last.t), lastY, 3, 0, Math.PI * 2);
    ctx.fill();
  }
  const tag = fmtPrice(last.price);
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const tw = ctx.measureText(tag).width + 10;
  const ty = Math.max(padT + 8, Math.min(padT + H - 8, lastY));
  ctx.fillRect(padL + W + 2, ty - 9, tw, 18);
  ctx.fillStyle = "#06100b";
  ctx.fillText(tag, padL + W + 7, ty + 0.5);
}

/** The chart's head: symbol, trading state, last, change, open/high/low, quote, volume. */
export function renderChartHead() {
  const row = state.rows.get(state.selected);
  head.symbol.textContent = row ? row.symbol : "–";
  const st = row && row.state !== "open" ? row.state : "";
  head.state.hidden = !st;
  head.state.textContent = st;
  head.state.className = `badge ${st}`;
  if (!row) return;
  head.last.textContent = fmtPrice(row.last);
  if (row.prevClose !== undefined && row.last !== undefined) {
    const chg = row.last - row.prevClose;
    head.change.textContent = `${fmtSigned(chg, priceDigits(row.last))} (${fmtSigned((chg / row.prevClose) * 100, 2)}%)`;
    head.change.className = `chg ${chg > 0 ? "up" : chg < 0 ? "down" : ""}`;
  } else {
    head.change.textContent = "";
  }
  head.open.textContent = fmtPrice(row.open);
  head.high.textContent = fmtPrice(row.high);
  head.low.textContent = fmtPrice(row.low);
  head.prev.textContent = fmtPrice(row.prevClose);
  head.quote.textContent = `${fmtPrice(row.bid)} × ${fmtPrice(row.ask)}`;
  head.volume.textContent = fmtInt(row.volume);
}
