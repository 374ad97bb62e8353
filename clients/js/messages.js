// The wire vocabulary of the JavaScript client: the subprotocol it offers, the default
// MessagePack codec, NATS-style topic patterns, turning a frame into a message (u64 numbers
// to Numbers where exact, `ts` to BigInt) and the `subscribe` message of a subscription.
// No state: feed.js, recovery.js and errors.js build on it.

import { decode as msgpackDecode, encode as msgpackEncode } from "./msgpack.js";

/** The subprotocol this client offers (MessagePack frames). */
export const SUBPROTOCOL = "tickcast.v1.msgpack";

/** The built-in codec (./msgpack.js); connect()'s `codec` option replaces it. */
export const defaultCodec = { encode: msgpackEncode, decode: msgpackDecode };

/** Whether topic `topic` matches pattern `pattern` (NATS style: `*` one token, `>` the rest). */
export function matches(pattern, topic) {
  const p = pattern.split(".");
  const t = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i === p.length - 1 && t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== "*" && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/** Whether any of `patterns` matches `topic`. */
export function matchesAny(patterns, topic) {
  return patterns.some((p) => matches(p, topic));
}

/** A BigInt that fits a Number exactly becomes one; anything else is returned as is. */
export function toSafe(v) {
  if (typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}

/** The bytes of a WebSocket frame's data, for the codec (a text frame is encoded as UTF-8). */
export function frameBytes(data) {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : new TextEncoder().encode(String(data));
}

/**
 * A decoded frame as a message: null when it is not an object with a string `type`;
 * otherwise `msg` itself, a numeric `ts` turned into a BigInt.
 */
export function asMessage(msg) {
  if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return null;
  if (msg.ts !== undefined && typeof msg.ts === "number") msg.ts = BigInt(msg.ts);
  return msg;
}

/** The `subscribe` message for `patterns` with subscription options `o`, under request `id`. */
export function subscribeMessage(id, patterns, o) {
  return {
    type: "subscribe",
    id,
    topics: patterns,
    snapshot: o.snapshot === undefined ? undefined : !!o.snapshot,
    max_rate: o.max_rate,
    rewind: o.rewind,
    depth: o.depth,
  };
}
