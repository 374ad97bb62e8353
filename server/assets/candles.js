// The chart's bar ranges (1s, 1m, 5m, 15m, 1h): candles of the selected symbol's bar topic,
// its closed bars (the rewind window, then live ones) and, lighter, the bar still forming from
// the ticks the page has, so the last candle moves with every trade.
import { MIN_SLOTS } from "./ranges.js";

const UP = "#22c983";
const DOWN = "#f2536d";

/**
 * What the candles of `series` (a BarSeries) show for `range`, with `hist` the symbol's price
 * history (for the forming bar): { startT, endT, lo, hi, last, candles, draw(frame, x, y) },
 * or null with no bar yet.
 */
export function candleView(series, hist, range) {
  const forming = series.forming(hist);
  const n = series.length + (forming ? 1 : 0);
  if (n === 0) return null;
  const step = range.intervalMs;
  const lastBar = forming ?? series.last;
  const slots = Math.max(MIN_SLOTS, Math.min(n, range.maxSlots));
  const endT = lastBar.t + step;
  const startT = endT - slots * step;
  const shown = series.bars.slice(series.firstFrom(startT));
  if (forming) shown.push(forming);
  let lo = Infinity;
  let hi = -Infinity;
  for (const b of shown) {
    if (b.l < lo) lo = b.l;
    if (b.h > hi) hi = b.h;
  }
  return {
    startT, endT, lo, hi,
    candles: shown.length,
    last: { t: lastBar.t + step / 2, price: lastBar.c },
    draw: (f, x, y) => drawCandles(f, shown, step, slots, x, y),
  };
}

function drawCandles(f, bars, step, slots, x, y) {
  const { ctx, W } = f;
  const slotW = W / slots;
  const bodyW = Math.max(1, Math.floor(slotW * 0.7));
  for (const [color, up] of [[UP, true], [DOWN, false]]) {
    for (const forming of [false, true]) {
      const mine = bars.filter((b) => (b.c >= b.o) === up && !!b.forming === forming);
      if (mine.length === 0) continue;
      ctx.globalAlpha = forming ? 0.55 : 1;
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const b of mine) {
        const cx = Math.round(x(b.t + step / 2)) + 0.5;
        ctx.moveTo(cx, y(b.h));
        ctx.lineTo(cx, y(b.l));
      }
      ctx.stroke();
      for (const b of mine) {
        const cx = Math.round(x(b.t + step / 2));
        const top = y(Math.max(b.o, b.c));
        const height = Math.max(1, y(Math.min(b.o, b.c)) - top);
        ctx.fillRect(cx - Math.floor(bodyW / 2), top, bodyW, height);
      }
    }
  }
  ctx.globalAlpha = 1;
}
