// The watchlist table: one <tr> per visible row, sorted by symbol; which rows the
// patterns show, the selection (click, arrow keys), and writing a row's cells.
import { fmtInt, fmtPrice, fmtSigned, priceDigits } from "./format.js";
import { rowMatches, state } from "./state.js";
import { scheduleRender } from "./frame.js";

const rowsBody = document.getElementById("rows");
const emptyNote = document.getElementById("empty");
const tableWrap = document.querySelector(".table-wrap");

/** Rows scrolled out of view are marked off-screen: their canvases are not redrawn. */
const visibilityObserver = "IntersectionObserver" in window
  ? new IntersectionObserver((entries) => {
    for (const e of entries) {
      const row = state.rows.get(e.target.dataset.topic);
      if (!row) continue;
      row.onscreen = e.isIntersecting;
      if (row.onscreen) row.dirty = row.sparkDirty = true;
    }
    scheduleRender();
  }, { root: tableWrap, rootMargin: "200px 0px" })
  : null;

function buildRowDom(row) {
  const tr = document.createElement("tr");
  tr.dataset.topic = row.topic;
  tr.dataset.symbol = row.symbol;
  tr.tabIndex = 0;
  tr.setAttribute("aria-selected", "false");
  const td = (cls) => {
    const c = document.createElement("td");
    c.className = cls;
    tr.appendChild(c);
    return c;
  };
  const sym = td("sym");
  const ticker = document.createElement("span");
  ticker.className = "ticker";
  ticker.textContent = row.symbol;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  sym.append(ticker, badge);
  const last = td("num last");
  const chg = td("num chg");
  const pct = td("num pct");
  const pctSpan = document.createElement("span");
  pct.appendChild(pctSpan);
  const bid = td("num bid");
  const ask = td("num ask");
  const vol = td("num vol");
  const spark = td("spark");
  const canvas = document.createElement("canvas");
  canvas.width = 120 * devicePixelRatio;
  canvas.height = 26 * devicePixelRatio;
  spark.appendChild(canvas);
  row.dom = {
    tr, badge, last, chg, pct, pctSpan, bid, ask, vol, canvas, ctx: canvas.getContext("2d"),
    text: { last: "", chg: "", pct: "", bid: "", ask: "", vol: "" }, sign: 0, badgeText: "",
  };
  tr.addEventListener("click", () => select(row.topic));
  visibilityObserver?.observe(tr);
  return tr;
}

/** Puts a row into the table (sorted by symbol) or takes it out, per the current patterns. */
export function placeRow(row) {
  const want = rowMatches(row.topic);
  if (want === row.visible) return;
  row.visible = want;
  if (!want) {
    row.dom?.tr.remove();
    if (state.selected === row.topic) state.selected = null;
    return;
  }
  const tr = row.dom ? row.dom.tr : buildRowDom(row);
  let before = null;
  for (const other of rowsBody.children) {
    if (other.dataset.symbol > row.symbol || (other.dataset.symbol === row.symbol && other.dataset.topic > row.topic)) {
      before = other;
      break;
    }
  }
  rowsBody.insertBefore(tr, before);
  row.dirty = row.sparkDirty = true;
  if (!state.selected) select(row.topic);
}

/** The patterns changed: shows and hides rows, keeps a visible selection. */
export function refilterRows() {
  state.matchCache.clear();
  for (const row of state.rows.values()) placeRow(row);
  if (!state.selected || !state.rows.get(state.selected)?.visible) {
    const first = rowsBody.firstElementChild;
    select(first ? first.dataset.topic : null);
  }
  updateEmpty();
  scheduleRender();
}

/** The note under an empty table. */
export function updateEmpty() {
  const n = rowsBody.childElementCount;
  emptyNote.hidden = n > 0;
  if (n === 0) {
    emptyNote.textContent = state.conn === "live"
      ? `No ticks yet for ${state.patterns.join(" ")}`
      : "Waiting for data…";
  }
}

/** Selects the row the chart shows (null: none). */
export function select(topic) {
  if (state.selected === topic && topic !== null) return;
  const prev = state.rows.get(state.selected);
  prev?.dom?.tr.setAttribute("aria-selected", "false");
  state.selected = topic;
  const row = state.rows.get(topic);
  row?.dom?.tr.setAttribute("aria-selected", "true");
  state.chartDirty = state.headDirty = true;
  scheduleRender();
}

// keyboard: arrows move the selection, Enter/Space selects a focused row
rowsBody.addEventListener("keydown", (e) => {
  const tr = e.target.closest("tr");
  if (!tr) return;
  let next = null;
  if (e.key === "ArrowDown") next = tr.nextElementSibling;
  else if (e.key === "ArrowUp") next = tr.previousElementSibling;
  else if (e.key === "Enter" || e.key === " ") next = tr;
  if (!next) return;
  e.preventDefault();
  next.focus();
  select(next.dataset.topic);
});

function setText(node, cache, key, text) {
  if (cache[key] !== text) {
    cache[key] = text;
    node.textContent = text;
  }
}

/** Writes a row's cells (only those whose text changed), its colours, flash and badge. */
export function renderRow(row) {
  const d = row.dom;
  const t = d.text;
  setText(d.last, t, "last", fmtPrice(row.last));
  setText(d.bid, t, "bid", fmtPrice(row.bid));
  setText(d.ask, t, "ask", fmtPrice(row.ask));
  setText(d.vol, t, "vol", fmtInt(row.volume));
  let sign = 0;
  if (row.prevClose !== undefined && row.last !== undefined && row.prevClose !== 0) {
    const chg = row.last - row.prevClose;
    sign = Math.sign(Number(chg.toFixed(priceDigits(row.last))));
    setText(d.chg, t, "chg", fmtSigned(chg, priceDigits(row.last)));
    setText(d.pctSpan, t, "pct", `${fmtSigned((chg / row.prevClose) * 100, 2)}%`);
  } else {
    setText(d.chg, t, "chg", "–");
    setText(d.pctSpan, t, "pct", "–");
  }
  if (sign !== d.sign) {
    d.sign = sign;
    const cls = sign > 0 ? " up" : sign < 0 ? " down" : "";
    d.chg.className = `num chg${cls}`;
    d.pct.className = `num pct${cls}`;
  }
  if (row.flashPending) {
    row.flashPending = false;
    row.flashToggle ^= 1;
    d.last.className = `num last flash-${row.dir > 0 ? "up" : "down"}-${row.flashToggle}`;
  }
  const badge = row.state && row.state !== "open" ? row.state : "";
  if (badge !== d.badgeText) {
    d.badgeText = badge;
    d.badge.hidden = !badge;
    d.badge.textContent = badge;
    d.badge.className = `badge ${badge}`;
  }
}
