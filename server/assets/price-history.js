// A row's price history: a ring buffer of fixed-width time buckets (last, low, high per
// bucket) with breaks where the page was disconnected, and tracing it onto a canvas path.

/** Bucket width in ms (the history's resolution). */
export const BUCKET_MS = 250;
/** Buckets kept per row: 15 minutes of 250 ms buckets. */
export const HISTORY_POINTS = 3600;

/** Ring buffer of BUCKET_MS buckets: time, last, low and high price of each bucket. */
export class History {
  constructor(capacity) {
    this.cap = capacity;
    this.t = new Float64Array(capacity);
    this.c = new Float64Array(capacity);
    this.lo = new Float64Array(capacity);
    this.hi = new Float64Array(capacity);
    this.gap = new Uint8Array(capacity); // 1: not connected to the bucket before (a disconnect)
    this.start = 0;
    this.len = 0;
    this.breakNext = false;
  }

  /** The next bucket starts a new segment: we were disconnected in between. */
  markBreak() {
    if (this.len > 0) this.breakNext = true;
  }

  push(tMs, price) {
    const bucket = Math.floor(tMs / BUCKET_MS) * BUCKET_MS;
    if (this.len > 0) {
      const last = (this.start + this.len - 1) % this.cap;
      if (bucket < this.t[last]) return; // older than what is drawn (history already had)
      if (bucket === this.t[last]) { // same bucket: update it
        this.c[last] = price;
        if (price < this.lo[last]) this.lo[last] = price;
        if (price > this.hi[last]) this.hi[last] = price;
        return;
      }
    }
    let i;
    if (this.len < this.cap) {
      i = (this.start + this.len) % this.cap;
      this.len++;
    } else {
      i = this.start;
      this.start = (this.start + 1) % this.cap;
    }
    this.t[i] = bucket;
    this.c[i] = this.lo[i] = this.hi[i] = price;
    this.gap[i] = this.breakNext ? 1 : 0;
    this.breakNext = false;
  }

  /** Index (0..len) of the first bucket at or after tMs. */
  firstFrom(tMs) {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.t[(this.start + mid) % this.cap] < tMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  at(k) { return (this.start + k) % this.cap; }

  /**
   * Adds the price line of buckets k0..len-1 to ctx's current path, one subpath per
   * connected segment; with baseY, each segment is closed down to baseY (an area).
   */
  trace(ctx, k0, X, Y, baseY) {
    let segX = 0;
    let lastX = 0;
    for (let k = k0; k < this.len; k++) {
      const i = this.at(k);
      const xx = X(this.t[i]);
      const yy = Y(this.c[i]);
      if (k === k0 || this.gap[i]) {
        if (k !== k0 && baseY !== undefined) this.closeArea(ctx, lastX, segX, baseY);
        ctx.moveTo(xx, yy);
        segX = xx;
      } else {
        ctx.lineTo(xx, yy);
      }
      lastX = xx;
    }
    if (baseY !== undefined && this.len > k0) this.closeArea(ctx, lastX, segX, baseY);
  }

  closeArea(ctx, lastX, segX, baseY) {
    ctx.lineTo(lastX, baseY);
    ctx.lineTo(segX, baseY);
    ctx.closePath();
  }
}
