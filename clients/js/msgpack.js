// MessagePack for tickcast in JavaScript: a small, dependency-free encoder and decoder of
// the subset protocol v1 uses. One ES module, the only copy: the client library (clients/js/)
// imports it, the server embeds this same file and serves it at /msgpack.js to its web page
// (`import { decode, encode } from "/msgpack.js"`; see server/src/assets.rs), and the Node
// unit tests in scripts/web/ check it against @msgpack/msgpack.
//
// Decoding (wire -> JS):
//   nil -> null; true/false -> boolean
//   positive/negative fixint, uint8/16/32, int8/16/32 -> Number
//   uint64/int64 -> Number when it is a safe integer (|n| <= 2^53 - 1), otherwise BigInt.
//     So nothing ever loses precision: the server's `epoch` and `ts` (u64 nanoseconds since
//     1970, about 1.7e18 > 2^53) arrive as BigInt and can be sent back exactly, e.g. in
//     `subscribe.since`. Use toNumber() where a float is good enough (latency in ms:
//     Number(ts) / 1e6 is exact to well under a microsecond).
//   float32/float64 -> Number
//   fixstr/str8/16/32 -> String (UTF-8; malformed UTF-8 is an error)
//   bin8/16/32 -> Uint8Array (a copy)
//   fixarray/array16/32 -> Array
//   fixmap/map16/32 -> plain Object (keys turned into strings; the protocol only uses strings)
//   ext types and the reserved byte 0xc1 -> DecodeError.
// Encoding (JS -> wire) picks the smallest format:
//   null/undefined -> nil (undefined *map values* are left out, like an absent optional field)
//   boolean; safe-integer Number -> smallest int format; other Number -> float64;
//   BigInt -> smallest int format (RangeError outside int64/uint64);
//   String -> str; Uint8Array/ArrayBuffer/other views -> bin; Array -> array;
//   Map and plain Object -> map.
// A frame is exactly one value: trailing bytes, truncation and nesting deeper than
// MAX_DEPTH are DecodeErrors.

export const MAX_DEPTH = 64;

export class DecodeError extends Error {
  constructor(message, offset) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = "DecodeError";
    this.offset = offset;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** BigInt or Number -> Number (for display and arithmetic where a float is good enough). */
export function toNumber(v) {
  return typeof v === "bigint" ? Number(v) : v;
}

function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("decode() needs an ArrayBuffer, Uint8Array or other ArrayBufferView");
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.bytes.length) {
      throw new DecodeError(`truncated: need ${n} more byte(s), have ${this.bytes.length - this.pos}`, this.pos);
    }
  }

  u8() { this.need(1); return this.bytes[this.pos++]; }
  u16() { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }
  i8() { this.need(1); const v = this.view.getInt8(this.pos); this.pos += 1; return v; }
  i16() { this.need(2); const v = this.view.getInt16(this.pos); this.pos += 2; return v; }
  i32() { this.need(4); const v = this.view.getInt32(this.pos); this.pos += 4; return v; }
  f32() { this.need(4); const v = this.view.getFloat32(this.pos); this.pos += 4; return v; }
  f64() { this.need(8); const v = this.view.getFloat64(this.pos); this.pos += 8; return v; }

  u64() {
    this.need(8);
    const hi = this.view.getUint32(this.pos);
    const lo = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    if (hi < 0x200000) return hi * 0x100000000 + lo; // < 2^53: exact as Number
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  i64() {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  }

  str(len) {
    this.need(len);
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    const b = this.bytes;
    if (len <= 32) {
      // Short strings (all keys and symbols) are mostly ASCII: skip TextDecoder's call overhead.
      let s = "";
      for (let i = start; i < end; i++) {
        const c = b[i];
        if (c >= 0x80) return this.utf8(start, end);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.utf8(start, end);
  }

  utf8(start, end) {
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, end));
    } catch {
      throw new DecodeError("invalid UTF-8 in string", start);
    }
  }

  bin(len) {
    this.need(len);
    const out = new Uint8Array(this.bytes.subarray(this.pos, this.pos + len)); // a plain copy, even of a Node Buffer
    this.pos += len;
    return out;
  }

  array(len, depth) {
    // Every element takes at least one byte: reject absurd lengths before allocating.
    this.need(len);
    const out = new Array(len);
    for (let i = 0; i < len; i++) out[i] = this.value(depth);
    return out;
  }

  map(len, depth) {
    this.need(len * 2);
    const out = {};
    for (let i = 0; i < len; i++) {
      const at = this.pos;
      const k = this.value(depth);
      if (typeof k !== "string" && typeof k !== "number" && typeof k !== "bigint") {
        throw new DecodeError(`map key must be a string or integer, got ${k === null ? "nil" : typeof k}`, at);
      }
      const key = String(k);
      const v = this.value(depth);
      if (key === "__proto__") {
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = v;
      }
    }
    return out;
  }

  value(depth) {
    const at = this.pos;
    const b = this.u8();
    if (b <= 0x7f) return b; // positive fixint
    if (b >= 0xe0) return b - 0x100; // negative fixint
    if (b <= 0x9f) { // fixmap 0x80-0x8f, fixarray 0x90-0x9f
      if (depth >= MAX_DEPTH) throw new DecodeError(`nesting deeper than ${MAX_DEPTH}`, at);
      return b <= 0x8f ? this.map(b & 0x0f, depth + 1) : this.array(b & 0x0f, depth + 1);
    }
    if (b <= 0xbf) return this.str(b & 0x1f); // fixstr
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.u8());
      case 0xc5: return this.bin(this.u16());
      case 0xc6: return this.bin(this.u32());
      case 0xca: return this.f32();
      case 0xcb: return this.f64();
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return this.u64();
      case 0xd0: return this.i8();
      case 0xd1: return this.i16();
      case 0xd2: return this.i32();
      case 0xd3: return this.i64();
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc:
      case 0xdd:
      case 0xde:
      case 0xdf: {
        if (depth >= MAX_DEPTH) throw new DecodeError(`nesting deeper than ${MAX_DEPTH}`, at);
        const len = b & 1 ? this.u32() : this.u16();
        return b >= 0xde ? this.map(len, depth + 1) : this.array(len, depth + 1);
      }
      case 0xc1:
        throw new DecodeError("reserved byte 0xc1", at);
      default: // 0xc7-0xc9 ext, 0xd4-0xd8 fixext
        throw new DecodeError(`unsupported MessagePack type 0x${b.toString(16)} (ext)`, at);
    }
  }
}

/**
 * Decodes exactly one MessagePack value from `input` (ArrayBuffer, Uint8Array or any
 * ArrayBufferView). Throws DecodeError on malformed, truncated or trailing bytes.
 */
export function decode(input) {
  const r = new Reader(toBytes(input));
  const v = r.value(0);
  if (r.pos !== r.bytes.length) {
    throw new DecodeError(`${r.bytes.length - r.pos} trailing byte(s) after the value`, r.pos);
  }
  return v;
}

class Writer {
  constructor() {
    this.bytes = new Uint8Array(256);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  room(n) {
    if (this.pos + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.pos));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  u8(v) { this.room(1); this.bytes[this.pos++] = v; }
  tag8(t, v) { this.room(2); this.bytes[this.pos++] = t; this.view.setUint8(this.pos, v); this.pos += 1; }
  tag16(t, v) { this.room(3); this.bytes[this.pos++] = t; this.view.setUint16(this.pos, v); this.pos += 2; }
  tag32(t, v) { this.room(5); this.bytes[this.pos++] = t; this.view.setUint32(this.pos, v); this.pos += 4; }
  raw(bytes) { this.room(bytes.length); this.bytes.set(bytes, this.pos); this.pos += bytes.length; }

  uint(v) {
    // v: a non-negative safe integer Number
    if (v <= 0x7f) this.u8(v);
    else if (v <= 0xff) this.tag8(0xcc, v);
    else if (v <= 0xffff) this.tag16(0xcd, v);
    else if (v <= 0xffffffff) this.tag32(0xce, v);
    else {
      this.room(9);
      this.bytes[this.pos++] = 0xcf;
      this.view.setUint32(this.pos, Math.floor(v / 0x100000000));
      this.view.setUint32(this.pos + 4, v >>> 0);
      this.pos += 8;
    }
  }

  int(v) {
    // v: a negative safe integer Number
    if (v >= -32) this.u8(v & 0xff);
    else if (v >= -0x80) { this.room(2); this.bytes[this.pos++] = 0xd0; this.view.setInt8(this.pos, v); this.pos += 1; }
    else if (v >= -0x8000) { this.room(3); this.bytes[this.pos++] = 0xd1; this.view.setInt16(this.pos, v); this.pos += 2; }
    else if (v >= -0x80000000) { this.room(5); this.bytes[this.pos++] = 0xd2; this.view.setInt32(this.pos, v); this.pos += 4; }
    else { this.room(9); this.bytes[this.pos++] = 0xd3; this.view.setBigInt64(this.pos, BigInt(v)); this.pos += 8; }
  }

  bigint(v) {
    if (v > U64_MAX || v < I64_MIN) throw new RangeError(`BigInt ${v} does not fit in 64 bits`);
    if (v >= MIN_SAFE && v <= MAX_SAFE) {
      const n = Number(v);
      return n >= 0 ? this.uint(n) : this.int(n);
    }
    this.room(9);
    if (v > 0n) {
      this.bytes[this.pos++] = 0xcf;
      this.view.setBigUint64(this.pos, v);
    } else {
      this.bytes[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, v);
    }
    this.pos += 8;
  }

  str(s) {
    let bytes;
    let ascii = s.length <= 64;
    if (ascii) {
      for (let i = 0; i < s.length; i++) {
        if (s.charCodeAt(i) >= 0x80) { ascii = false; break; }
      }
    }
    const len = ascii ? s.length : (bytes = utf8Encoder.encode(s)).length;
    if (len <= 31) this.u8(0xa0 | len);
    else if (len <= 0xff) this.tag8(0xd9, len);
    else if (len <= 0xffff) this.tag16(0xda, len);
    else this.tag32(0xdb, len);
    if (ascii) {
      this.room(len);
      for (let i = 0; i < len; i++) this.bytes[this.pos++] = s.charCodeAt(i);
    } else {
      this.raw(bytes);
    }
  }

  bin(bytes) {
    const len = bytes.length;
    if (len <= 0xff) this.tag8(0xc4, len);
    else if (len <= 0xffff) this.tag16(0xc5, len);
    else this.tag32(0xc6, len);
    this.raw(bytes);
  }

  arrayHeader(len) {
    if (len <= 15) this.u8(0x90 | len);
    else if (len <= 0xffff) this.tag16(0xdc, len);
    else this.tag32(0xdd, len);
  }

  mapHeader(len) {
    if (len <= 15) this.u8(0x80 | len);
    else if (len <= 0xffff) this.tag16(0xde, len);
    else this.tag32(0xdf, len);
  }

  value(v, depth) {
    if (v === null || v === undefined) return this.u8(0xc0);
    switch (typeof v) {
      case "boolean": return this.u8(v ? 0xc3 : 0xc2);
      case "number":
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) return v >= 0 ? this.uint(v) : this.int(v);
        this.room(9);
        this.bytes[this.pos++] = 0xcb;
        this.view.setFloat64(this.pos, v);
        this.pos += 8;
        return;
      case "bigint": return this.bigint(v);
      case "string": return this.str(v);
      case "object": break;
      default: throw new TypeError(`cannot encode a ${typeof v} as MessagePack`);
    }
    if (depth >= MAX_DEPTH) throw new RangeError(`nesting deeper than ${MAX_DEPTH}`);
    if (v instanceof Uint8Array) return this.bin(v);
    if (v instanceof ArrayBuffer) return this.bin(new Uint8Array(v));
    if (ArrayBuffer.isView(v)) return this.bin(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const item of v) this.value(item, depth + 1);
      return;
    }
    const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
    const kept = entries.filter(([, val]) => val !== undefined);
    this.mapHeader(kept.length);
    for (const [k, val] of kept) {
      this.value(k, depth + 1);
      this.value(val, depth + 1);
    }
  }
}

/** Encodes one value as MessagePack; returns a Uint8Array (exactly sized). */
export function encode(value) {
  const w = new Writer();
  w.value(value, 0);
  return w.bytes.slice(0, w.pos);
}
