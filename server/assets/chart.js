// Canvas drawing: the chart panel (price line, high/low ranges, prev-close reference,
// axes, and the price head above it) and the table rows' 60 s sparklines.
import { fmtInt, fmtPrice, fmtSigned, fmtTime, priceDigits } from "./format.js";
import { BUCKET_MS } from "./price-history.js";
import { serverClock } from "./clock.js";
import { state } from "./state.js";

const SPARK_WINDOW_MS = 60000;

const $ = (id) => document.getElementById(id);
export const chartCanvas = $("chart");
const head = {
  symbol: $("chart-symbol"), state: $("chart-state"), last: $("chart-last"), change: $("chart-change"),
  open: $("chart-open"), high: $("chart-high"), low: $("chart-low"), prev: $("chart-prev"),
  quote: $("chart-quote"), volume: $("chart-volume"),
};

/** Draws a row's sparkline: the last 60 s, green when up on the day, red when down. */
export function drawSparkline(row) {
  const { canvas, ctx } = row.dom;
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const hist = row.hist;
  if (hist.len === 0) return;
  const end = hist.t[hist.at(hist.len - 1)];
  const from = hist.firstFrom(end - SPARK_WINDOW_MS);
  // a young history fills the width instead of sitting at the right edge
  const start = Math.min(end - 5000, Math.max(end - SPARK_WINDOW_MS, hist.t[hist.at(from)]));
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = from; k < hist.len; k++) {
    const c = hist.c[hist.at(k)];
    if (c < lo) lo = c;
    if (c > hi) hi = c;
  }
  const ref = row.prevClose;
  const up = ref !== undefined ? row.last >= ref : hist.c[hist.at(hist.len - 1)] >= hist.c[hist.at(from)];
  const pad = 2 * devicePixelRatio;
  if (hi - lo < 1e-9) { hi += 0.005; lo -= 0.005; }
  const x = (tm) => pad + ((tm - start) / (end - start)) * (w - 2 * pad);
  const y = (p) => h - pad - ((p - lo) / (hi - lo)) * (h - 2 * pad);
  ctx.lineWidth = 1.25 * devicePixelRatio;
  ctx.lineJoin = "round";
  ctx.strokeStyle = up ? "#22c983" : "#f2536d";
  ctx.beginPath();
  hist.trace(ctx, from, x, y, h);
  ctx.fillStyle = up ? "rgba(34,201,131,0.10)" : "rgba(242,83,109,0.10)";
  ctx.fill();
  ctx.beginPath();
  hist.trace(ctx, from, x, y);
  ctx.stroke();
  const li = hist.at(hist.len - 1);
  ctx.fillStyle = ctx.strokeStyle;
  ctx.beginPath();
  ctx.arc(x(hist.t[li]), y(hist.c[li]), 1.8 * devicePixelRatio, 0, Math.PI * 2);
  ctx.fill();
}

function niceStep(range, target) {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

/** Draws the selected row's chart over the chosen range (state.chartRangeMs). */
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
  const row = state.rows.get(state.selected);
  const padL = 12, padR = 66, padT = 16, padB = 26;
  const W = cssW - padL - padR;
  const H = cssH - padT - padB;
  ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', Menlo, monospace";
  if (!row || row.hist.len === 0) {
    ctx.fillStyle = "#566273";
    ctx.textAlign = "center";
    ctx.fillText(row ? "waiting for ticks…" : "select a symbol", cssW / 2, cssH / 2);
    return;
  }
  const hist = row.hist;
  const endT = Math.max(hist.t[hist.at(hist.len - 1)] + BUCKET_MS, Date.now() + serverClock.offsetMs);
  // show the chosen range, or less while the history is younger than that (at least 10 s)
  const startT = Math.min(endT - 10000, Math.max(endT - state.chartRangeMs, hist.t[hist.at(0)]));
  const from = hist.firstFrom(startT);
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = from; k < hist.len; k++) {
    const i = hist.at(k);
    if (hist.lo[i] < lo) lo = hist.lo[i];
    if (hist.hi[i] > hi) hi = hist.hi[i];
  }
  if (!Number.isFinite(lo)) { lo = hi = row.last; }
  const ref = row.prevClose;
  // keep prev close in view when it is near, so the reference line means something
  if (ref !== undefined && Math.abs(ref - (lo + hi) / 2) < (hi - lo) * 1.5 + ref * 0.002) {
    lo = Math.min(lo, ref);
    hi = Math.max(hi, ref);
  }
  const span = Math.max(hi - lo, Math.abs(hi) * 1e-4, 1e-6);
  lo -= span * 0.08;
  hi += span * 0.08;
  const x = (tm) => padL + ((tm - startT) / (endT - startT)) * W;
  const y = (p) => padT + (1 - (p - lo) / (hi - lo)) * H;

  // grid + price axis
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
  // time axis
  const tStep = niceTimeStep(endT - startT);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let tm = Math.ceil(startT / tStep) * tStep; tm <= endT; tm += tStep) {
    const xx = Math.round(x(tm)) + 0.5;
    ctx.strokeStyle = "#141c25";
    ctx.beginPath();
    ctx.moveTo(xx, padT);
    ctx.lineTo(xx, padT + H);
    ctx.stroke();
    if (xx > padL + 24 && xx < padL + W - 24) {
      ctx.fillStyle = "#6b7888";
      ctx.fillText(fmtTime(tm - serverClock.offsetMs), xx, padT + H + 8);
    }
  }

  const up = ref !== undefined ? row.last >= ref : true;
  const color = up ? "#22c983" : "#f2536d";

  // prev close reference
  if (ref !== undefined && ref >= lo && ref <= hi) {
    const yy = Math.round(y(ref)) + 0.5;
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#3b4757";
    ctx.beginPath();
    ctx.moveTo(padL, yy);
    ctx.lineTo(padL + W, yy);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#6b7888";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.fillText(`prev close ${fmtPrice(ref)}`, padL + 6, yy - 3);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(padL, padT, W, H);
  ctx.clip();
  // per-bucket high/low range
  ctx.strokeStyle = up ? "rgba(34,201,131,0.28)" : "rgba(242,83,109,0.28)";
  ctx.beginPath();
  for (let k = from; k < hist.len; k++) {
    const i = hist.at(k);
    if (hist.hi[i] - hist.lo[i] <= 0) continue;
    const xx = x(hist.t[i] + BUCKET_MS / 2);
    ctx.moveTo(xx, y(hist.hi[i]));
    ctx.lineTo(xx, y(hist.lo[i]));
  }
  ctx.stroke();
  // area + line
  const grad = ctx.createLinearGradient(0, padT, 0, padT + H);
  grad.addColorStop(0, up ? "rgba(34,201,131,0.22)" : "rgba(242,83,109,0.22)");
  grad.addColorStop(1, "rgba(0,0,0,0)");
  const bx = (tm) => x(tm + BUCKET_MS / 2);
  const k0 = Math.max(0, from - 1); // from just outside the window, so the line starts at its edge
  ctx.beginPath();
  hist.trace(ctx, k0, bx, y, padT + H);
  ctx.fillStyle = grad;
  ctx.fill();
  ctx.beginPath();
  hist.trace(ctx, k0, bx, y);
  ctx.lineWidth = 1.6;
  ctx.lineJoin = "round";
  ctx.strokeStyle = color;
  ctx.stroke();
  ctx.restore();
  const li = hist.at(hist.len - 1);
  const lastX = bx(hist.t[li]);
  const lastY = y(hist.c[li]);

  // last price marker + tag on the axis
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(lastX, lastY, 3, 0, Math.PI * 2);
  ctx.fill();
  const tag = fmtPrice(row.last);
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const tw = ctx.measureText(tag).width + 10;
  const ty = Math.max(padT + 8, Math.min(padT + H - 8, lastY));
  ctx.fillRect(padL + W + 2, ty - 9, tw, 18);
  ctx.fillStyle = "#06100b";
  ctx.fillText(tag, padL + W + 7, ty + 0.5);
}

function niceTimeStep(rangeMs) {
  for (const s of [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000]) {
    if (rangeMs / s <= 7) return s;
  }
  return 900000;
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
