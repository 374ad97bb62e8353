// The order-book ladder beside the chart: the selected symbol's book (state.book, a verified
// OrderBook from the client library) as two columns of levels, asks above (the best at the
// bottom), the spread in the middle, bids below (the best at the top), each level with a bar
// sized to its share of the largest level shown. The rows are built once; a render only
// rewrites the text and bar widths that changed.
import { fmtInt } from "./format.js";
import { state } from "./state.js";
import { BOOK_DEPTH } from "./book-feed.js";

const $ = (id) => document.getElementById(id);
const dom = {
  title: $("book-title"), note: $("book-note"), spread: $("book-spread"), seq: $("book-seq"),
  asks: $("book-asks"), bids: $("book-bids"),
};

function buildRows(list) {
  const rows = [];
  for (let i = 0; i < BOOK_DEPTH; i++) {
    const li = document.createElement("li");
    const bar = document.createElement("span");
    bar.className = "bar";
    const price = document.createElement("span");
    price.className = "price";
    const size = document.createElement("span");
    size.className = "size";
    li.append(bar, price, size);
    list.appendChild(li);
    rows.push({ li, bar, price, size, text: { price: "", size: "", width: "" } });
  }
  return rows;
}

const askRows = buildRows(dom.asks);
const bidRows = buildRows(dom.bids);
let drawn = null; // the OrderBook last written into the ladder

/** Decimals of a price on the grid of `tickSize` (0.01: 2). */
const gridDigits = (tickSize) => Math.max(0, Math.ceil(-Math.log10(tickSize) - 1e-9));

function setText(el, cache, key, text) {
  if (cache[key] === text) return;
  cache[key] = text;
  el.textContent = text;
}

function fill(row, level, digits, maxSize) {
  const [price, size] = level ?? [];
  setText(row.price, row.text, "price", level ? price.toFixed(digits) : "");
  setText(row.size, row.text, "size", level ? fmtInt(size) : "");
  const width = level && maxSize > 0 ? `${((100 * size) / maxSize).toFixed(1)}%` : "0%";
  if (row.text.width !== width) {
    row.text.width = width;
    row.bar.style.width = width;
  }
}

/** Writes state.book into the ladder. */
export function renderLadder() {
  const book = state.book;
  drawn = book;
  const symbol = state.bookTopic ? state.bookTopic.slice("book.".length) : "";
  dom.title.textContent = symbol ? `Order book · ${symbol}` : "Order book";
  dom.note.hidden = !!book;
  if (!book) {
    dom.note.textContent = state.bookTopic ? `Waiting for the book of ${symbol}…` : "Select a symbol";
    dom.spread.textContent = "–";
    dom.seq.textContent = "";
    for (const row of [...askRows, ...bidRows]) fill(row, undefined, 2, 0);
    return;
  }
  const digits = gridDigits(book.tickSize);
  const shownAsks = book.asks.slice(0, BOOK_DEPTH);
  const shownBids = book.bids.slice(0, BOOK_DEPTH);
  const maxSize = Math.max(0, ...shownAsks.map((l) => l[1]), ...shownBids.map((l) => l[1]));
  // asks: the worst shown at the top, the best right above the spread
  askRows.forEach((row, i) => fill(row, shownAsks[BOOK_DEPTH - 1 - i], digits, maxSize));
  bidRows.forEach((row, i) => fill(row, shownBids[i], digits, maxSize));
  const spread = book.spread;
  dom.spread.textContent = spread === undefined
    ? "no spread (a side is empty)"
    : `spread ${spread.toFixed(digits)} · ${book.spreadTicks} tick${book.spreadTicks === 1 ? "" : "s"}`;
  const resyncs = state.feed?.stats.bookResyncs ?? 0;
  dom.seq.textContent = `seq ${book.seq} · depth ${book.depth} · verified${resyncs ? ` · ${resyncs} resynced` : ""}`;
}

/**
 * What the ladder shows, as text, and the book it was drawn from (its seq and levels: the
 * model may be ahead until the next frame), for window.tickcast and the end-to-end test.
 */
export function ladderShown() {
  const side = (rows) => rows.map((r) => [r.text.price, r.text.size]).filter(([p]) => p !== "");
  const from = drawn && { seq: drawn.seq, bids: drawn.bids.map((l) => [...l]), asks: drawn.asks.map((l) => [...l]) };
  return { asks: side(askRows).reverse(), bids: side(bidRows), spread: dom.spread.textContent, seq: dom.seq.textContent, from };
}
