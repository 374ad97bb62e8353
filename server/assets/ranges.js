// The chart's ranges: the tick line, or candles of one bar interval (1s, 1m, 5m, 15m, 1h:
// the server's `bars.INTERVAL.SYM` topics), with how much history each asks for (`rewind`),
// how many candles it shows at most, and how its time axis is stepped and labelled.

/**
 * key: the button's `data-range` and the interval token of the bar topic; intervalMs: 0 for
 * ticks; rewind: bars asked for when the range is shown (its window); maxSlots: candles
 * across the chart at most (fewer bars: wider candles, down to minSlots).
 */
export const RANGES = [
  { key: "ticks", intervalMs: 0, rewind: 0, maxSlots: 0 },
  { key: "1s", intervalMs: 1000, rewind: 300, maxSlots: 300 },
  { key: "1m", intervalMs: 60_000, rewind: 240, maxSlots: 240 },
  { key: "5m", intervalMs: 300_000, rewind: 96, maxSlots: 96 },
  { key: "15m", intervalMs: 900_000, rewind: 64, maxSlots: 64 },
  { key: "1h", intervalMs: 3_600_000, rewind: 24, maxSlots: 24 },
];

/** The range the page opens with (`?range=` overrides it). */
export const DEFAULT_RANGE = "1m";

/** Candles across the chart at least (a short history gets wide candles, not huge ones). */
export const MIN_SLOTS = 24;

/**
 * Ticks each `ticks.*` topic starts with (the main subscription's rewind): the sparklines and
 * the tick line start full, and 50 symbols of them fit the server's replay room (8 x
 * --queue-bytes, 2 MiB by default) at some 120 bytes a tick.
 */
export const TICK_REWIND = 150;

/** The range named `key` (the default one for anything else). */
export function rangeOf(key) {
  return RANGES.find((r) => r.key === key) ?? RANGES.find((r) => r.key === DEFAULT_RANGE);
}

/** The bar topic of `range` for the symbol of trades topic `topic` (`ticks.AAPL`), or null. */
export function barTopic(range, topic) {
  if (!range.intervalMs || !topic?.startsWith("ticks.")) return null;
  return `bars.${range.key}.${topic.slice("ticks.".length)}`;
}

const STEPS_MS = [
  1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/** A step for time-axis lines over `spanMs`: at most about `target` of them. */
export function timeStep(spanMs, target = 7) {
  return STEPS_MS.find((s) => spanMs / s <= target) ?? STEPS_MS[STEPS_MS.length - 1];
}

const pad = (n) => String(n).padStart(2, "0");
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/**
 * A time-axis label for `ms` (local time) when lines are `stepMs` apart: seconds only when the
 * step is under a minute, and the weekday at midnight or when the axis spans days.
 */
export function timeLabel(ms, stepMs, spanMs) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (stepMs < 60_000) return `${hm}:${pad(d.getSeconds())}`;
  if (spanMs > 20 * 3_600_000 || (d.getHours() === 0 && d.getMinutes() === 0)) return `${DAYS[d.getDay()]} ${hm}`;
  return hm;
}
