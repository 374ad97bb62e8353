// tickcast live board: one WebSocket to this host's /ws speaking tickcast.v1.msgpack.
//
// Data flow: every frame is decoded and applied to plain JS state at once (cheap, O(1));
// the DOM and the canvases are only touched in requestAnimationFrame, once per frame,
// for the rows that changed, so thousands of ticks per second cost one render per frame.
// The page makes no HTTP request after loading: everything live comes over the socket.
//
// Protocol use (see proto/PROTOCOL.md):
//   welcome -> subscribe {topics, since?}; ack; snapshot per topic (prev_close, OHLC, epoch)
//   or replayed ticks when `since` could be honoured; then live tick / status / bar.
//   Pattern change: subscribe to the new patterns first and, once acked, unsubscribe the
//   patterns no longer wanted (no gap, and nothing changes if the server rejects them).
//   Reconnect: exponential backoff with jitter, close codes 4000-4099 = do not reconnect,
//   4200-4299 = reconnect now, `shutdown.reconnect_after_ms` is honoured; then subscribe
//   again with since = {topic: [epoch, seq]} of every row we hold (epoch kept as BigInt,
//   exact), so the server replays what we missed or sends a fresh snapshot.
//   Gap detection: per topic, seq must grow by one; jumps are counted as gaps (or as
//   conflation after a `lagged` notice), repeats are dropped as duplicates.
//   Topics that had no data when we subscribed get no snapshot (their first message is a
//   tick): their prev_close comes from a short-lived second connection (requestSnapshot).
//   Heartbeats: protocol pings every min(5 s, heartbeat_ms) (also gives rtt and the clock
//   offset for latency); 3 heartbeat intervals of silence = dead connection, reconnect.
import { decode, encode, toNumber } from "./msgpack.js";

const SUBPROTOCOL = "tickcast.v1.msgpack";
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 5000;
const LATENCY_WINDOW_MS = 5000;
const STATS_EVERY_MS = 500;
const SPARK_WINDOW_MS = 60000;
const SPARK_EVERY_MS = 120; // sparklines redraw at most ~8x per second
const CHART_EVERY_MS = 50; // the big chart at most 20x per second
const OFFSCREEN_EVERY_MS = 1000; // table rows scrolled out of view
const BUCKET_MS = 250; // history resolution
const HISTORY_POINTS = 3600; // 15 minutes of 250 ms buckets

const params = new URLSearchParams(location.search);
const MAX_RATE = Number(params.get("max_rate")) || undefined;

// ---------------------------------------------------------------- topic patterns

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/** Validates a subscription pattern like proto/src/topic.rs; returns an error text or null. */
export function patternError(p) {
  const bytes = new TextEncoder().encode(p).length;
  if (bytes === 0) return "pattern is empty";
  if (bytes > 128) return `pattern is ${bytes} bytes long; the limit is 128`;
  const tokens = p.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "*") continue;
    if (t === ">") {
      if (i !== tokens.length - 1) return "`>` must be the last token";
      continue;
    }
    if (t === "") return "empty token (leading, trailing or double dot)";
    if (!TOKEN_RE.test(t)) {
      const bad = [...t].find((c) => !/[A-Za-z0-9_-]/.test(c));
      if (bad === "*" || bad === ">") return "`*` and `>` must be whole tokens";
      return `invalid character ${JSON.stringify(bad)}; tokens use A-Z a-z 0-9 _ -`;
    }
  }
  return null;
}

/** NATS-style match: `*` one token, `>` one or more trailing tokens. */
export function patternMatches(pattern, topic) {
  const pt = pattern.split(".");
  const tt = topic.split(".");
  for (let i = 0; i < pt.length; i++) {
    if (pt[i] === ">") return i < tt.length;
    if (i >= tt.length) return false;
    if (pt[i] !== "*" && pt[i] !== tt[i]) return false;
  }
  return pt.length === tt.length;
}

const parsePatterns = (text) => [...new Set(text.split(/[\s,]+/).filter(Boolean))];

// ---------------------------------------------------------------- formatting

const priceDigits = (p) => (Math.abs(p) < 1 ? 4 : 2);
const fmtPrice = (p) => (p === undefined || p === null || !Number.isFinite(p) ? "–" : p.toFixed(priceDigits(p)));

function fmtInt(n) {
  if (n === undefined || n === null) return "–";
  const s = String(Math.round(toNumber(n)));
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0 && s[i - 1] !== "-") out += ",";
    out += s[i];
  }
  return out;
}

function fmtSigned(n, digits) {
  if (n === undefined || !Number.isFinite(n)) return "–";
  const s = n.toFixed(digits);
  if (Number(s) === 0) return (0).toFixed(digits); // no "-0.00"
  return n > 0 ? `+${s}` : s;
}

function fmtMs(ms) {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

const nowWallMs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- price history

/** Ring buffer of BUCKET_MS buckets: time, last, low and high price of each bucket. */
class History {
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
      if (bucket <= this.t[last]) { // same bucket (or an older tick replayed): update it
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

// ---------------------------------------------------------------- state

const $ = (id) => document.getElementById(id);
const el = {
  conn: $("conn"), connText: $("conn-text"),
  rate: $("stat-rate"), p50: $("stat-p50"), p99: $("stat-p99"), rtt: $("stat-rtt"), gaps: $("stat-gaps"),
  form: $("sub-form"), pattern: $("pattern"), patternMsg: $("pattern-msg"),
  rows: $("rows"), empty: $("empty"), tableWrap: document.querySelector(".table-wrap"),
  chart: $("chart"), chartSymbol: $("chart-symbol"), chartState: $("chart-state"), chartLast: $("chart-last"),
  chartChange: $("chart-change"), chartOpen: $("chart-open"), chartHigh: $("chart-high"), chartLow: $("chart-low"),
  chartPrev: $("chart-prev"), chartQuote: $("chart-quote"), chartVolume: $("chart-volume"),
  footServer: $("foot-server"), footSubs: $("foot-subs"), footCounters: $("foot-counters"),
};

const state = {
  ws: null,
  conn: "connecting",
  connLog: [], // [wall ms, state] transitions, for humans and the e2e test
  attempt: 0, // reconnect attempts since the last welcome
  retryAt: 0,
  retryTimer: 0,
  countdownTimer: 0,
  reconnectAfterMs: 0, // from a `shutdown` message
  welcome: null,
  epoch: null, // welcome.epoch of the current connection (BigInt: exact)
  watchdog: 0,
  lastFrameAt: 0,
  pingTimer: 0,
  patterns: parsePatterns(params.get("topics") || el.pattern.value),
  subscriptions: [], // as the server last acked them
  nextId: 1,
  latestSubscribeId: 0,
  pings: new Map(), // id -> sent wall ms
  matchCache: new Map(), // topic -> matches state.patterns
  clock: { offsetMs: 0, samples: [] },
  snapshotWanted: new Set(), // topics to fetch a snapshot for (requestSnapshot)
  snapshotFlush: 0,
  snapshotSocket: null,
  rows: new Map(), // topic -> row (kept while hidden, so history survives pattern changes)
  selected: null, // topic
  chartRangeMs: 300000,
  counters: { frames: 0, ticks: 0, snapshots: 0, gaps: 0, conflated: 0, duplicates: 0, lagged: 0, badFrames: 0, reconnects: 0, recoveredFalse: 0, snapshotFetches: 0 },
  rate: { frames: 0, since: performance.now(), value: 0 },
  lat: { t: new Float64Array(8192), v: new Float64Array(8192), n: 0 },
  renderQueued: false,
  sparkAt: 0,
  offscreenAt: 0,
  chartAt: 0,
  chartDirty: true,
  headDirty: true,
};
el.pattern.value = state.patterns.join(" ");

function setConn(next, text) {
  if (state.conn !== next) {
    state.conn = next;
    state.connLog.push([Date.now(), next]);
    if (state.connLog.length > 100) state.connLog.shift();
    el.conn.dataset.state = next;
    document.body.dataset.conn = next;
  }
  if (el.connText.textContent !== text) el.connText.textContent = text;
}

// ---------------------------------------------------------------- rows

function createRow(topic, symbol) {
  const row = {
    topic, symbol,
    epoch: null, seq: null, lagged: false, snapshotRequested: false, snapshotTries: 0,
    last: undefined, prevClose: undefined, open: undefined, high: undefined, low: undefined,
    bid: undefined, ask: undefined, volume: undefined, size: undefined, state: "open",
    dir: 0, flashToggle: 0, flashPending: false,
    hist: new History(HISTORY_POINTS),
    dirty: true, sparkDirty: true, visible: false, onscreen: true,
    dom: null,
  };
  state.rows.set(topic, row);
  return row;
}

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

/** Whether the current patterns cover `topic` (cached: asked for every tick). */
function rowMatches(topic) {
  let m = state.matchCache.get(topic);
  if (m === undefined) {
    m = state.patterns.some((p) => patternMatches(p, topic));
    state.matchCache.set(topic, m);
  }
  return m;
}

/** Puts a row into the table (sorted by symbol) or takes it out, per the current patterns. */
function placeRow(row) {
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
  for (const other of el.rows.children) {
    if (other.dataset.symbol > row.symbol || (other.dataset.symbol === row.symbol && other.dataset.topic > row.topic)) {
      before = other;
      break;
    }
  }
  el.rows.insertBefore(tr, before);
  row.dirty = row.sparkDirty = true;
  if (!state.selected) select(row.topic);
}

function refilterRows() {
  state.matchCache.clear();
  for (const row of state.rows.values()) placeRow(row);
  if (!state.selected || !state.rows.get(state.selected)?.visible) {
    const first = el.rows.firstElementChild;
    select(first ? first.dataset.topic : null);
  }
  updateEmpty();
  scheduleRender();
}

function updateEmpty() {
  const n = el.rows.childElementCount;
  el.empty.hidden = n > 0;
  if (n === 0) {
    el.empty.textContent = state.conn === "live"
      ? `No ticks yet for ${state.patterns.join(" ")}`
      : "Waiting for data…";
  }
}

function select(topic) {
  if (state.selected === topic && topic !== null) return;
  const prev = state.rows.get(state.selected);
  prev?.dom?.tr.setAttribute("aria-selected", "false");
  state.selected = topic;
  const row = state.rows.get(topic);
  row?.dom?.tr.setAttribute("aria-selected", "true");
  state.chartDirty = state.headDirty = true;
  scheduleRender();
}

const visibilityObserver = "IntersectionObserver" in window
  ? new IntersectionObserver((entries) => {
    for (const e of entries) {
      const row = state.rows.get(e.target.dataset.topic);
      if (!row) continue;
      row.onscreen = e.isIntersecting;
      if (row.onscreen) row.dirty = row.sparkDirty = true;
    }
    scheduleRender();
  }, { root: el.tableWrap, rootMargin: "200px 0px" })
  : null;

// ---------------------------------------------------------------- messages

function sameEpoch(a, b) {
  return a !== null && a !== undefined && b !== null && b !== undefined && String(a) === String(b);
}

function applyPrice(row, price, tsMs, flash) {
  if (flash && row.last !== undefined && price !== row.last) {
    row.dir = price > row.last ? 1 : -1;
    row.flashPending = true;
  }
  row.last = price;
  if (row.high === undefined || price > row.high) row.high = price;
  if (row.low === undefined || price < row.low) row.low = price;
  row.hist.push(tsMs, price);
  row.dirty = row.sparkDirty = true;
  if (row.topic === state.selected) state.chartDirty = state.headDirty = true;
}

/**
 * A topic that had no data yet when we subscribed (a server that just started) gets no
 * snapshot: its first message is a plain tick, without prev_close / open. The server
 * sends snapshots only to new subscribers of a topic, so fetch them over a short-lived
 * second connection (subscribe to the exact topics, take the snapshots, close) and take
 * only the session fields from them; seq and prices keep coming from the main stream.
 * Batched per 250 ms, one such connection at a time.
 */
function requestSnapshot(row) {
  if (row.snapshotRequested || row.snapshotTries >= 3 || state.conn !== "live") return;
  row.snapshotRequested = true;
  row.snapshotTries++;
  state.snapshotWanted.add(row.topic);
  if (!state.snapshotFlush && !state.snapshotSocket) state.snapshotFlush = setTimeout(fetchSnapshots, 250);
}

function fetchSnapshots() {
  state.snapshotFlush = 0;
  if (state.snapshotSocket || state.conn !== "live") return;
  const limit = Math.max(1, toNumber(state.welcome?.max_subscriptions ?? 64));
  const topics = [...state.snapshotWanted].slice(0, limit);
  if (topics.length === 0) return;
  for (const t of topics) state.snapshotWanted.delete(t);
  state.counters.snapshotFetches++;
  const left = new Set(topics);
  const ws = new WebSocket(wsUrl(), SUBPROTOCOL);
  ws.binaryType = "arraybuffer";
  state.snapshotSocket = ws;
  const finish = () => {
    clearTimeout(timer);
    ws.onmessage = ws.onclose = null;
    try { ws.close(1000); } catch { /* closing already */ }
    if (state.snapshotSocket === ws) state.snapshotSocket = null;
    for (const t of left) { // not answered: try again on the next tick
      const row = state.rows.get(t);
      if (row && row.prevClose === undefined) row.snapshotRequested = false;
    }
    if (state.snapshotWanted.size) state.snapshotFlush = setTimeout(fetchSnapshots, 250);
  };
  const timer = setTimeout(finish, 5000);
  ws.onclose = finish;
  ws.onmessage = (ev) => {
    let m;
    try { m = decode(ev.data); } catch { finish(); return; }
    if (m.type === "welcome") {
      ws.send(encode({ type: "subscribe", id: 1, topics }));
    } else if (m.type === "snapshot") {
      left.delete(m.topic);
      const row = state.rows.get(m.topic);
      if (row && row.prevClose === undefined) {
        row.prevClose = m.prev_close;
        row.open = m.open;
        row.high = row.high === undefined ? m.high : Math.max(row.high, m.high);
        row.low = row.low === undefined ? m.low : Math.min(row.low, m.low);
        row.state = m.state ?? row.state;
        row.dirty = row.sparkDirty = true;
        if (row.topic === state.selected) state.headDirty = state.chartDirty = true;
        scheduleRender();
      }
      if (left.size === 0) finish();
    } else if (m.type === "error") {
      finish();
    }
  };
}

function onTick(m, recvMs) {
  if (!rowMatches(m.topic)) return; // in flight from a pattern we just dropped
  const row = state.rows.get(m.topic) ?? createRow(m.topic, m.symbol);
  state.counters.ticks++;
  const seq = toNumber(m.seq);
  if (sameEpoch(row.epoch, state.epoch) && row.seq !== null) {
    if (seq <= row.seq) {
      state.counters.duplicates++;
      return;
    }
    if (seq > row.seq + 1) {
      const missed = seq - row.seq - 1;
      if (row.lagged || MAX_RATE) state.counters.conflated += missed;
      else {
        state.counters.gaps += missed;
        console.warn(`tickcast: gap on ${m.topic}: ${row.seq} -> ${seq} (${missed} missed)`);
      }
    }
  }
  row.lagged = false;
  row.epoch = state.epoch;
  row.seq = seq;
  const tsMs = toNumber(m.ts) / 1e6;
  applyPrice(row, m.price, tsMs, true);
  row.bid = m.bid;
  row.ask = m.ask;
  row.size = toNumber(m.size);
  row.volume = toNumber(m.volume);
  placeRow(row);
  if (row.prevClose === undefined) requestSnapshot(row);
  // latency sample: our clock, moved onto the server's clock by the ping/pong estimate
  const lat = state.lat;
  const i = lat.n++ % lat.t.length;
  lat.t[i] = recvMs;
  lat.v[i] = recvMs + state.clock.offsetMs - tsMs;
}

function onSnapshot(m) {
  if (!rowMatches(m.topic)) return;
  const row = state.rows.get(m.topic) ?? createRow(m.topic, m.symbol);
  state.counters.snapshots++;
  if (m.recovered === false) state.counters.recoveredFalse++;
  row.epoch = m.epoch;
  row.seq = toNumber(m.seq);
  row.lagged = false;
  row.prevClose = m.prev_close;
  row.open = m.open;
  row.high = m.high;
  row.low = m.low;
  row.bid = m.bid;
  row.ask = m.ask;
  row.size = toNumber(m.size);
  row.volume = toNumber(m.volume);
  row.state = m.state ?? "open";
  applyPrice(row, m.price, toNumber(m.ts) / 1e6, row.last !== undefined);
  row.high = m.high;
  row.low = m.low;
  placeRow(row);
}

function onStatus(m) {
  const row = state.rows.get(m.topic);
  if (!row) return;
  row.state = m.state;
  row.dirty = true;
  if (row.topic === state.selected) state.headDirty = true;
}

function onAck(m) {
  state.subscriptions = m.subscriptions ?? state.subscriptions;
  if (m.op === "subscribe" && m.id === state.latestSubscribeId) {
    // Drop whatever the server still has that we no longer want (old patterns).
    const extra = state.subscriptions.filter((p) => !state.patterns.includes(p));
    if (extra.length) send({ type: "unsubscribe", id: state.nextId++, topics: extra });
    setPatternMsg(`subscribed to ${state.patterns.join(" ")}`, "ok");
  }
  updateFooter();
}

function onError(m) {
  console.warn("tickcast: server error", m);
  if (m.id !== undefined && m.id === state.latestSubscribeId) {
    // The server changed nothing: go back to what it has.
    setPatternMsg(`${m.code}: ${m.message}`, "error");
    el.pattern.setAttribute("aria-invalid", "true");
    if (state.subscriptions.length) {
      state.patterns = [...state.subscriptions];
      refilterRows();
    }
  }
}

function onPong(m, recvMs) {
  const sent = state.pings.get(m.id);
  if (sent === undefined) return;
  state.pings.delete(m.id);
  const rtt = recvMs - sent;
  const c = state.clock;
  // Server clock at the midpoint of the round trip; keep the estimate from the fastest of
  // the last 8 round trips (least queueing, so the least error).
  c.samples.push({ rtt, offset: toNumber(m.ts) / 1e6 - (sent + recvMs) / 2 });
  if (c.samples.length > 8) c.samples.shift();
  const best = c.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
  // The estimate is only good to +-rtt/2: within that the clocks agree (same host, NTP),
  // and correcting would only add noise.
  c.offsetMs = Math.abs(best.offset) > best.rtt / 2 + 1 ? best.offset : 0;
  c.lastRtt = rtt;
  el.rtt.textContent = fmtMs(rtt);
}

function onMessage(ev) {
  const recvMs = nowWallMs();
  state.lastFrameAt = performance.now();
  state.counters.frames++;
  state.rate.frames++;
  let m;
  try {
    m = decode(ev.data);
  } catch (e) {
    state.counters.badFrames++;
    console.warn("tickcast: undecodable frame", e);
    return;
  }
  switch (m?.type) {
    case "tick": onTick(m, recvMs); break;
    case "snapshot": onSnapshot(m); break;
    case "status": onStatus(m); break;
    case "heartbeat": break;
    case "bar": break; // the board charts ticks; bars.* topics are accepted but not drawn
    case "lagged":
      state.counters.lagged += toNumber(m.dropped);
      for (const t of m.topics ?? []) {
        const row = state.rows.get(t);
        if (row) row.lagged = true;
      }
      break;
    case "welcome": onWelcome(m); break;
    case "ack": onAck(m); break;
    case "error": onError(m); break;
    case "pong": onPong(m, recvMs); break;
    case "topics": break;
    case "shutdown":
      state.reconnectAfterMs = toNumber(m.reconnect_after_ms) || 0;
      setConn("reconnecting", `Server restarting: ${m.reason || "shutdown"}`);
      break;
    default:
      console.debug("tickcast: ignoring message", m);
  }
  scheduleRender();
}

// ---------------------------------------------------------------- connection

// Servers that require a token: open the page as /?token=T (browsers cannot set headers
// on a WebSocket, so the token travels as the `token` query parameter).
const TOKEN = params.get("token");

function wsUrl() {
  const base = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws";
  return TOKEN ? base + "?token=" + encodeURIComponent(TOKEN) : base;
}

function send(msg) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(encode(msg));
  return true;
}

/** `since` for every row we hold that the given patterns cover and that has a position. */
function sincePositions(patterns) {
  const since = {};
  let n = 0;
  for (const row of state.rows.values()) {
    if (row.epoch === null || row.seq === null) continue;
    if (row.prevClose === undefined) continue; // never had a snapshot: ask for one
    if (!patterns.some((p) => patternMatches(p, row.topic))) continue;
    since[row.topic] = [row.epoch, row.seq];
    n++;
  }
  return n ? since : undefined;
}

function subscribe(patterns) {
  const id = state.nextId++;
  state.latestSubscribeId = id;
  const msg = { type: "subscribe", id, topics: patterns, since: sincePositions(patterns), max_rate: MAX_RATE };
  const limit = toNumber(state.welcome?.max_message_bytes ?? 0);
  if (msg.since && limit && encode(msg).length > limit) msg.since = undefined; // fall back to snapshots
  send(msg);
}

function connect() {
  clearTimeout(state.retryTimer);
  clearTimeout(state.countdownTimer);
  if (state.attempt === 0) setConn("connecting", "Connecting…");
  else setConn("reconnecting", `Reconnecting… (attempt ${state.attempt})`);
  let ws;
  try {
    ws = new WebSocket(wsUrl(), SUBPROTOCOL);
  } catch (e) {
    console.error("tickcast: cannot open WebSocket", e);
    scheduleReconnect(1006, String(e));
    return;
  }
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  state.lastFrameAt = performance.now();
  ws.onmessage = onMessage;
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    disconnected(ev.code, ev.reason);
  };
  ws.onerror = () => {}; // onclose follows with the details we need
}

function onWelcome(m) {
  state.welcome = m;
  state.epoch = m.epoch;
  state.attempt = 0;
  state.reconnectAfterMs = 0;
  state.pings.clear();
  state.snapshotWanted.clear();
  for (const row of state.rows.values()) {
    row.snapshotRequested = false;
    row.snapshotTries = 0;
  }
  setConn("live", "Live");
  subscribe(state.patterns);
  startTimers(toNumber(m.heartbeat_ms) || 1000);
  updateFooter();
  updateEmpty();
}

function startTimers(heartbeatMs) {
  stopTimers();
  const ping = () => {
    const id = state.nextId++;
    if (send({ type: "ping", id })) state.pings.set(id, nowWallMs());
    if (state.pings.size > 16) state.pings.delete(state.pings.keys().next().value);
  };
  ping();
  // at least once per heartbeat interval: the server closes peers silent for 3 of them
  // (4100), and a page cannot send WebSocket-level pings itself
  state.pingTimer = setInterval(ping, Math.min(PING_EVERY_MS, heartbeatMs));
  // The server speaks at least every heartbeat_ms; silence for 3 of them means the
  // connection is dead even if TCP has not noticed yet.
  const silentLimit = Math.max(3 * heartbeatMs, 3000);
  state.watchdog = setInterval(() => {
    if (performance.now() - state.lastFrameAt > silentLimit) {
      console.warn(`tickcast: nothing heard for ${silentLimit} ms, reconnecting`);
      const ws = state.ws;
      state.ws = null;
      try { ws?.close(); } catch { /* already closing */ }
      disconnected(1006, "idle");
    }
  }, Math.min(1000, heartbeatMs));
}

function stopTimers() {
  clearInterval(state.pingTimer);
  clearInterval(state.watchdog);
}

function disconnected(code, reason) {
  stopTimers();
  for (const row of state.rows.values()) row.hist.markBreak();
  state.ws = null;
  state.welcome = null;
  if (code >= 4000 && code <= 4099) {
    setConn("closed", `Disconnected: ${reason || `code ${code}`}`);
    return;
  }
  scheduleReconnect(code, reason);
}

function scheduleReconnect(code) {
  let delay;
  if (code >= 4200 && code <= 4299) {
    delay = 50 + Math.random() * 250;
  } else {
    // exponential backoff with "equal jitter": half fixed, half random
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    delay = cap / 2 + Math.random() * (cap / 2);
  }
  if (state.reconnectAfterMs) delay = Math.max(delay, state.reconnectAfterMs * (1 + Math.random() * 0.5));
  state.reconnectAfterMs = 0;
  state.attempt++;
  state.counters.reconnects++;
  state.retryAt = performance.now() + delay;
  state.retryTimer = setTimeout(connect, delay);
  const tick = () => {
    const left = Math.max(0, state.retryAt - performance.now());
    setConn("reconnecting", `Reconnecting in ${Math.ceil(left / 1000)}s`);
    if (left > 0) state.countdownTimer = setTimeout(tick, Math.min(250, left));
  };
  tick();
  updateEmpty();
}

// ---------------------------------------------------------------- pattern box

function setPatternMsg(text, kind) {
  el.patternMsg.textContent = text;
  el.patternMsg.className = `hint ${kind}`;
}

function applyPatternInput() {
  const patterns = parsePatterns(el.pattern.value);
  if (patterns.length === 0) {
    setPatternMsg("enter at least one pattern, e.g. ticks.*", "error");
    el.pattern.setAttribute("aria-invalid", "true");
    return;
  }
  for (const p of patterns) {
    const err = patternError(p);
    if (err) {
      setPatternMsg(`${p}: ${err}`, "error");
      el.pattern.setAttribute("aria-invalid", "true");
      return;
    }
  }
  el.pattern.removeAttribute("aria-invalid");
  const same = patterns.length === state.patterns.length && patterns.every((p, i) => p === state.patterns[i]);
  if (same) return;
  state.patterns = patterns;
  const url = new URL(location.href);
  url.searchParams.set("topics", patterns.join(" "));
  history.replaceState(null, "", url);
  refilterRows();
  if (state.conn === "live") {
    setPatternMsg(`subscribing to ${patterns.join(" ")}…`, "ok");
    subscribe(patterns);
  } else {
    setPatternMsg(`will subscribe to ${patterns.join(" ")} when connected`, "ok");
  }
}

el.form.addEventListener("submit", (e) => {
  e.preventDefault();
  applyPatternInput();
});
let typingTimer = 0;
el.pattern.addEventListener("input", () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(applyPatternInput, 400);
});

// keyboard: arrows move the selection, Enter/Space selects a focused row
el.rows.addEventListener("keydown", (e) => {
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

for (const b of document.querySelectorAll(".range button")) {
  b.addEventListener("click", () => {
    state.chartRangeMs = Number(b.dataset.range);
    for (const o of document.querySelectorAll(".range button")) o.setAttribute("aria-pressed", String(o === b));
    state.chartDirty = true;
    scheduleRender();
  });
}

// ---------------------------------------------------------------- rendering

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(render);
}

function setText(node, cache, key, text) {
  if (cache[key] !== text) {
    cache[key] = text;
    node.textContent = text;
  }
}

function renderRow(row) {
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

function drawSparkline(row) {
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

function drawChart() {
  const canvas = el.chart;
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
  const endT = Math.max(hist.t[hist.at(hist.len - 1)] + BUCKET_MS, Date.now() + state.clock.offsetMs);
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
      ctx.fillText(fmtTime(tm - state.clock.offsetMs), xx, padT + H + 8);
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

function renderChartHead() {
  const row = state.rows.get(state.selected);
  el.chartSymbol.textContent = row ? row.symbol : "–";
  const st = row && row.state !== "open" ? row.state : "";
  el.chartState.hidden = !st;
  el.chartState.textContent = st;
  el.chartState.className = `badge ${st}`;
  if (!row) return;
  el.chartLast.textContent = fmtPrice(row.last);
  if (row.prevClose !== undefined && row.last !== undefined) {
    const chg = row.last - row.prevClose;
    el.chartChange.textContent = `${fmtSigned(chg, priceDigits(row.last))} (${fmtSigned((chg / row.prevClose) * 100, 2)}%)`;
    el.chartChange.className = `chg ${chg > 0 ? "up" : chg < 0 ? "down" : ""}`;
  } else {
    el.chartChange.textContent = "";
  }
  el.chartOpen.textContent = fmtPrice(row.open);
  el.chartHigh.textContent = fmtPrice(row.high);
  el.chartLow.textContent = fmtPrice(row.low);
  el.chartPrev.textContent = fmtPrice(row.prevClose);
  el.chartQuote.textContent = `${fmtPrice(row.bid)} × ${fmtPrice(row.ask)}`;
  el.chartVolume.textContent = fmtInt(row.volume);
}

function render(now) {
  state.renderQueued = false;
  const sparkDue = now - state.sparkAt >= SPARK_EVERY_MS;
  let sparkPending = false;
  // rows scrolled out of view are kept current once a second (no canvas work for them)
  const offscreenDue = now - state.offscreenAt >= OFFSCREEN_EVERY_MS;
  if (offscreenDue) state.offscreenAt = now;
  for (const row of state.rows.values()) {
    if (!row.visible || !row.dom) continue;
    if (row.dirty && (row.onscreen || offscreenDue)) {
      row.dirty = false;
      renderRow(row);
    }
    if (row.sparkDirty && row.onscreen) {
      if (sparkDue) {
        row.sparkDirty = false;
        drawSparkline(row);
      } else sparkPending = true;
    }
  }
  if (sparkDue) state.sparkAt = now;
  if (state.headDirty) {
    state.headDirty = false;
    renderChartHead();
  }
  let chartPending = false;
  if (state.chartDirty) {
    if (now - state.chartAt >= CHART_EVERY_MS) {
      state.chartDirty = false;
      state.chartAt = now;
      drawChart();
    } else chartPending = true;
  }
  updateEmpty();
  if (sparkPending || chartPending) scheduleRender();
}

// ---------------------------------------------------------------- stats

function percentile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function updateStats() {
  const now = performance.now();
  const r = state.rate;
  const dt = (now - r.since) / 1000;
  const inst = r.frames / dt;
  r.value = r.value === 0 ? inst : r.value * 0.5 + inst * 0.5;
  r.frames = 0;
  r.since = now;
  el.rate.textContent = fmtInt(r.value);

  const lat = state.lat;
  const cutoff = nowWallMs() - LATENCY_WINDOW_MS;
  const n = Math.min(lat.n, lat.t.length);
  const vals = [];
  for (let i = 0; i < n; i++) if (lat.t[i] >= cutoff) vals.push(lat.v[i]);
  const sorted = Float64Array.from(vals).sort();
  el.p50.textContent = fmtMs(percentile(sorted, 0.5));
  el.p99.textContent = fmtMs(percentile(sorted, 0.99));

  el.gaps.textContent = fmtInt(state.counters.gaps);
  el.gaps.classList.toggle("bad", state.counters.gaps > 0);
  if (state.conn !== "live") el.rtt.textContent = "–";
  updateFooter();
  // keep the chart's time axis moving even when the selected symbol is quiet
  state.chartDirty = true;
  scheduleRender();
}

function updateFooter() {
  const w = state.welcome;
  el.footServer.textContent = w
    ? `${w.server} · protocol v${w.protocol} · epoch ${w.epoch}`
    : `${wsUrl()} · ${SUBPROTOCOL}`;
  el.footSubs.textContent = `subscriptions: ${state.subscriptions.join(" ") || "–"}`;
  const c = state.counters;
  el.footCounters.textContent =
    `frames ${fmtInt(c.frames)} · ticks ${fmtInt(c.ticks)} · snapshots ${fmtInt(c.snapshots)}` +
    ` · conflated ${fmtInt(c.conflated + c.lagged)} · dup ${fmtInt(c.duplicates)} · reconnects ${fmtInt(c.reconnects)}`;
}

// ---------------------------------------------------------------- start

window.addEventListener("resize", () => {
  state.chartDirty = true;
  scheduleRender();
});
new ResizeObserver(() => {
  state.chartDirty = true;
  scheduleRender();
}).observe(el.chart);

// Waiting out a backoff makes no sense once the network is back or the user looks again.
const reconnectNow = () => {
  if (state.conn === "reconnecting" && !state.ws) connect();
};
window.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

setInterval(updateStats, STATS_EVERY_MS);
updateFooter();
connect();

// A read-only view for debugging in the console and for the end-to-end test.
window.tickcast = {
  get conn() { return state.conn; },
  get connLog() { return state.connLog.slice(); },
  get patterns() { return state.patterns.slice(); },
  get subscriptions() { return state.subscriptions.slice(); },
  get counters() { return { ...state.counters }; },
  get epoch() { return state.epoch === null ? null : String(state.epoch); },
  /** Drops the connection as a network blip would; the page reconnects and resumes with `since`. */
  reconnect() { state.ws?.close(1000, "reconnect requested"); },
  rows() {
    return [...state.rows.values()].filter((r) => r.visible).map((r) => ({
      topic: r.topic, symbol: r.symbol, seq: r.seq, last: r.last, prevClose: r.prevClose, volume: toNumber(r.volume),
    }));
  },
};
