// A topic's history over HTTP: `GET /history/{topic}` (PROTOCOL.md §16), as the same typed
// messages the stream yields (`tick`s of a trades topic with its `epoch` filled in, `bar`s),
// fetched as MessagePack with the access token in an `Authorization: Bearer` header. Errors
// are TickcastErrors carrying the HTTP status and the server's JSON `code`. Used by
// Feed.history() (feed.js) and exported as the standalone history().

import { TickcastError } from "./errors.js";
import { asMessage, defaultCodec, toSafe } from "./messages.js";

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The HTTP base of a server from its WebSocket URL (or an http(s) URL): `ws://h:p/ws` ->
 * `http://h:p`, `wss://h/feed/ws` -> `https://h/feed`.
 */
export function httpBase(url) {
  const u = new URL(String(url));
  if (u.protocol === "ws:") u.protocol = "http:";
  else if (u.protocol === "wss:") u.protocol = "https:";
  else if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`history: ${u.protocol} is not a server URL (ws:, wss:, http: or https:)`);
  }
  const path = u.pathname.replace(/\/ws\/?$/, "").replace(/\/+$/, "");
  return `${u.origin}${path}`;
}

/**
 * A time bound as the server takes it: a BigInt is nanoseconds since 1970 (like `msg.ts`),
 * a Number milliseconds (like Date.now()), a Date itself, a string as is (RFC 3339, or
 * integer nanoseconds).
 */
export function timeParam(t) {
  if (typeof t === "bigint") return t.toString();
  if (t instanceof Date) return (BigInt(t.getTime()) * 1_000_000n).toString();
  if (typeof t === "number" && Number.isFinite(t)) return (BigInt(Math.round(t)) * 1_000_000n).toString();
  if (typeof t === "string") return t;
  throw new TypeError(`history: a time must be a BigInt (ns), a Number (ms), a Date or a string, not ${typeof t}`);
}

/** The URL of `topic`'s history on the server at `base` (http or ws), with `options`' query. */
export function historyUrl(base, topic, options = {}) {
  const query = new URLSearchParams({ format: "msgpack" });
  if (options.limit !== undefined) query.set("limit", String(options.limit));
  if (options.from !== undefined) query.set("from", timeParam(options.from));
  if (options.to !== undefined) query.set("to", timeParam(options.to));
  return `${httpBase(base)}/history/${encodeURIComponent(topic)}?${query}`;
}

/** What a person should do about a refused history request. */
function advice(status) {
  switch (status) {
    case 401:
      return " It needs a valid access token: pass { token }.";
    case 403:
      return " The token's topics do not include it.";
    case 404:
      return " The server has no such topic (feed.list() names those it has).";
    case 400:
      return " Check the topic (no wildcards) and limit/from/to.";
    default:
      return "";
  }
}

/**
 * The history of `topic` on the server at `url` (its `ws://.../ws` URL or its `http://` base):
 * `{ topic, epoch, messages }`, the latest `limit` messages (default: the server's, 1,000)
 * with `from <= ts < to`, oldest first. `options`: limit, from, to, token, timeoutMs, codec,
 * fetch (default: the global fetch).
 */
export async function history(url, topic, options = {}) {
  const target = historyUrl(url, topic, options);
  const headers = { Accept: "application/msgpack" };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== "function") {
    throw new TickcastError("history: there is no global fetch (Node 18+ and browsers have one); pass the `fetch` option", { kind: "environment" });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const what = `history of ${topic}`;
  try {
    let res;
    try {
      res = await fetchFn(target, { headers, signal: abort.signal });
    } catch (e) {
      if (abort.signal.aborted) throw new TickcastError(`${what}: no answer within ${timeoutMs} ms`, { kind: "timeout" });
      throw new TickcastError(`${what}: the request failed (${e?.cause?.message ?? e?.message ?? e}); is the server running at ${httpBase(url)}?`, { kind: "connection" });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: the text is the reason */
      }
      const code = body?.code;
      const reason = body?.message ?? text.trim().slice(0, 500);
      throw new TickcastError(`${what}: the server answered HTTP ${res.status}${code ? ` ${code}` : ""}${reason ? `: ${reason}` : ""}.${advice(res.status)}`, {
        kind: "http",
        status: res.status,
        code,
        reason,
      });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    let body;
    try {
      body = (options.codec ?? defaultCodec).decode(bytes);
    } catch (e) {
      throw new TickcastError(`${what}: the answer did not decode as MessagePack (${e.message})`, { kind: "connection" });
    }
    return asHistory(body);
  } catch (e) {
    if (e instanceof TickcastError) throw e;
    if (abort.signal.aborted) throw new TickcastError(`${what}: no answer within ${timeoutMs} ms`, { kind: "timeout" });
    throw new TickcastError(`${what}: ${e?.message ?? e}`, { kind: "connection" });
  } finally {
    clearTimeout(timer);
  }
}

/** A decoded answer as `{ topic, epoch, messages }`: ts BigInt, seq/epoch Numbers, ticks with the epoch. */
function asHistory(body) {
  const epoch = toSafe(body?.epoch);
  const messages = [];
  for (const raw of Array.isArray(body?.messages) ? body.messages : []) {
    const msg = asMessage(raw);
    if (!msg) continue;
    msg.seq = toSafe(msg.seq);
    msg.epoch = msg.epoch === undefined ? epoch : toSafe(msg.epoch);
    messages.push(msg);
  }
  return { topic: body?.topic, epoch, messages };
}
