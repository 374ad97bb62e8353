// The chart's "ticks" range: the selected symbol's trades as a price line over its last
// 5 minutes (or all the page has, from the subscription's rewind on), with each 250 ms
// bucket's high-low range behind it.
import { BUCKET_MS } from "./price-history.js";

/** The longest stretch the tick line shows. */
const TICK_SPAN_MS = 300_000;
/** The shortest: a young history is stretched to at least this. */
const MIN_SPAN_MS = 10_000;

/**
 * What the tick line of `row` shows at server-clock time `nowMs`: { startT, endT, lo, hi,
 * last, draw(frame, x, y, up) }, or null with no trades yet.
 */
export function tickView(row, nowMs) {
  const hist = row.hist;
  if (hist.len === 0) return null;
  const lastI = hist.at(hist.len - 1);
  const endT = Math.max(hist.t[lastI] + BUCKET_MS, nowMs);
  const startT = Math.min(endT - MIN_SPAN_MS, Math.max(endT - TICK_SPAN_MS, hist.t[hist.at(0)]));
  const from = hist.firstFrom(startT);
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = from; k < hist.len; k++) {
    const i = hist.at(k);
    if (hist.lo[i] < lo) lo = hist.lo[i];
    if (hist.hi[i] > hi) hi = hist.hi[i];
  }
  if (!Number.isFinite(lo)) lo = hi = hist.c[lastI];
  return {
    startT, endT, lo, hi,
    last: { t: hist.t[lastI] + BUCKET_MS / 2, price: hist.c[lastI] },
    draw: (f, x, y, up) => drawLine(f, hist, from, x, y, up),
  };
}

function drawLine(f, hist, from, x, y, up) {
  const { ctx, padT, H } = f;
  // per-bucket high/low range
  ctx.strokeStyle = up ? "rgba(34,201,131,0.28)" : "rgba(242,83,109,0.28)";
  ctx.lineWidth = 1;
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
  ctx.strokeStyle = up ? "#22c983" : "#f2536d";
  ctx.stroke();
}
