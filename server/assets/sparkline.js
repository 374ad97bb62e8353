// A table row's sparkline: the symbol's last 60 s of trades (its price history), green when up
// on the day, red when down. A history younger than that fills the width: rows start full,
// from the ticks each topic's subscription rewinds.
const SPARK_WINDOW_MS = 60000;

/** Draws `row`'s sparkline on its canvas. */
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
