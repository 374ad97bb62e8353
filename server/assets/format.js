// Text formatting for the page: prices, signed changes, integers with thousands
// separators, durations in ms. (The chart's time labels: ranges.js.)
import { toNumber } from "./msgpack.js";

/** Decimals a price is shown with: 4 below 1, otherwise 2. */
export const priceDigits = (p) => (Math.abs(p) < 1 ? 4 : 2);

export const fmtPrice = (p) => (p === undefined || p === null || !Number.isFinite(p) ? "–" : p.toFixed(priceDigits(p)));

/** An integer (Number or BigInt) with thousands separators: 1234567 -> "1,234,567". */
export function fmtInt(n) {
  if (n === undefined || n === null) return "–";
  const s = String(Math.round(toNumber(n)));
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0 && s[i - 1] !== "-") out += ",";
    out += s[i];
  }
  return out;
}

/** A change with its sign: "+1.25", "-0.50", "0.00" (never "-0.00"). */
export function fmtSigned(n, digits) {
  if (n === undefined || !Number.isFinite(n)) return "–";
  const s = n.toFixed(digits);
  if (Number(s) === 0) return (0).toFixed(digits); // no "-0.00"
  return n > 0 ? `+${s}` : s;
}

/** A duration in milliseconds: "0.42 ms", "12.3 ms", "840 ms", "12.5 s". */
export function fmtMs(ms) {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
