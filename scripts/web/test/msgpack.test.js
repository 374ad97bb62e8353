// Unit tests for clients/js/msgpack.js (the one codec: the client library's, served to the web
// page at /msgpack.js) against the reference implementation
// @msgpack/msgpack: fixed vectors at every format boundary, random values both ways
// (reference encode -> our decode, our encode -> reference decode, and byte equality
// where both pick the smallest format), protocol-shaped messages with u64 nanosecond
// timestamps, and malformed input.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as ref from "@msgpack/msgpack";
import { decode, encode, toNumber, DecodeError, MAX_DEPTH } from "../../../clients/js/msgpack.js";

const refDecode = (bytes) => ref.decode(bytes, { useBigInt64: true });
const refEncode = (value) => ref.encode(value, { useBigInt64: true });

// The reference (with useBigInt64) returns every int64/uint64 as BigInt; ours returns
// Numbers where they are exact. Normalize both to "Number if safe, else BigInt".
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function norm(v) {
  if (typeof v === "bigint") return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
  if (v === null || typeof v !== "object") return v;
  if (v instanceof Uint8Array) return new Uint8Array(v); // plain Uint8Array, even from a Buffer
  if (Array.isArray(v)) return v.map(norm);
  const out = {};
  for (const k in v) out[k] = norm(v[k]);
  return out;
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");

// Small seeded PRNG (mulberry32) so a failure names a reproducible seed.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOUNDARY_INTS = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000,
  Number.MAX_SAFE_INTEGER, -1, -32, -33, -0x80, -0x81, -0x8000, -0x8001,
  -0x80000000, -0x80000001, Number.MIN_SAFE_INTEGER,
];
const BOUNDARY_BIGINTS = [
  2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -(2n ** 53n), -(2n ** 63n),
  1_700_000_000_123_456_789n, // a nanosecond timestamp
];

const ALPHABETS = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._->*",
  "éüßçñ€£¥", "日本語中文한국어", "😀🚀📈", // 2-, 3- and 4-byte UTF-8 (surrogate pairs)
].map((a) => [...a]);

function randomString(r, maxLen) {
  const len = Math.floor(r() ** 3 * maxLen);
  let s = "";
  while (s.length < len) {
    const alpha = ALPHABETS[r() < 0.8 ? 0 : 1 + Math.floor(r() * 3)];
    s += alpha[Math.floor(r() * alpha.length)];
  }
  return s;
}

function randomValue(r, depth = 0) {
  const kind = Math.floor(r() * (depth < 4 ? 12 : 9));
  switch (kind) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return BOUNDARY_INTS[Math.floor(r() * BOUNDARY_INTS.length)] + (r() < 0.5 ? 0 : Math.floor(r() * 3) - 1);
    case 3: { // any safe integer, log-uniform magnitude
      const mag = Math.floor(2 ** (r() * 53));
      return r() < 0.5 ? mag : -mag;
    }
    case 4: return BOUNDARY_BIGINTS[Math.floor(r() * BOUNDARY_BIGINTS.length)];
    case 5: { // float64, including specials
      const specials = [0.5, -0.5, 1e-300, 1.7976931348623157e308, Infinity, -Infinity, NaN, 0.1, 123.456];
      return r() < 0.3 ? specials[Math.floor(r() * specials.length)] : (r() - 0.5) * 10 ** Math.floor(r() * 20 - 5);
    }
    case 6: return randomString(r, r() < 0.9 ? 40 : 70000);
    case 7: {
      const len = Math.floor(r() ** 3 * (r() < 0.95 ? 300 : 70000));
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
      return b;
    }
    case 8: return randomString(r, 10);
    case 9:
    case 10: {
      const len = Math.floor(r() ** 2 * (r() < 0.97 ? 20 : 70000));
      return Array.from({ length: len }, () => (len > 100 ? Math.floor(r() * 300) : randomValue(r, depth + 1)));
    }
    default: {
      const len = Math.floor(r() ** 2 * (r() < 0.97 ? 20 : 70000));
      const o = {};
      for (let i = 0; i < len; i++) o[len > 100 ? `k${i}` : randomString(r, 12)] = len > 100 ? i : randomValue(r, depth + 1);
      return o;
    }
  }
}

function containsBigInt(v) {
  if (typeof v === "bigint") return true;
  if (Array.isArray(v)) return v.some(containsBigInt);
  if (v && typeof v === "object" && !(v instanceof Uint8Array)) return Object.values(v).some(containsBigInt);
  return false;
}

test("fixed vectors: every format the protocol uses decodes to the expected value", () => {
  const cases = [
    ["c0", null], ["c2", false], ["c3", true],
    ["00", 0], ["7f", 127], ["e0", -32], ["ff", -1],
    ["cc80", 128], ["ccff", 255], ["cd0100", 256], ["cdffff", 65535], ["ce00010000", 65536],
    ["ceffffffff", 4294967295], ["cf0000000100000000", 4294967296],
    ["cf001fffffffffffff", Number.MAX_SAFE_INTEGER],
    ["cf0020000000000000", 2n ** 53n],
    ["cfffffffffffffffff", 2n ** 64n - 1n],
    ["cf17975e8f0a32b515", 0x17975e8f0a32b515n],
    ["d080", -128], ["d17fff", 32767], ["d18000", -32768], ["d280000000", -2147483648],
    ["d3ffffffffffffffff", -1], ["d38000000000000000", -(2n ** 63n)],
    ["d3ffe0000000000001", Number.MIN_SAFE_INTEGER],
    ["ca3fc00000", 1.5], ["cb3ff8000000000000", 1.5], ["cb7ff8000000000000", NaN],
    ["a0", ""], ["a3616263", "abc"], ["d903616263", "abc"], ["da0003616263", "abc"],
    ["db00000003616263", "abc"], ["a2c3a9", "é"], ["a4f09f9a80", "🚀"],
    ["c403010203", Uint8Array.of(1, 2, 3)], ["c50000", new Uint8Array(0)], ["c600000001ff", Uint8Array.of(255)],
    ["90", []], ["9201a0", [1, ""]], ["dc000101", [1]], ["dd0000000101", [1]],
    ["80", {}], ["81a16101", { a: 1 }], ["de0001a16101", { a: 1 }], ["df00000001a16101", { a: 1 }],
    ["8101a178", { 1: "x" }],
  ];
  for (const [h, expected] of cases) {
    const got = decode(Buffer.from(h, "hex"));
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(got), h);
    else assert.deepStrictEqual(got, expected, `decode(${h})`);
    // and the reference agrees
    const r = norm(refDecode(Buffer.from(h, "hex")));
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(r));
    else assert.deepStrictEqual(r, norm(expected), `reference decode(${h})`);
  }
});

test("encoder picks the smallest format at every boundary (byte-equal to the reference)", () => {
  for (const n of BOUNDARY_INTS) {
    for (const v of [n - 1, n, n + 1].filter(Number.isSafeInteger)) {
      assert.equal(hex(encode(v)), hex(ref.encode(v)), `encode(${v})`);
      assert.equal(decode(encode(v)), v);
    }
  }
  for (const len of [0, 1, 31, 32, 255, 256, 65535, 65536]) {
    const s = "x".repeat(len);
    assert.equal(hex(encode(s)), hex(ref.encode(s)), `str len ${len}`);
    const b = new Uint8Array(len).fill(7);
    assert.equal(hex(encode(b)), hex(ref.encode(b)), `bin len ${len}`);
  }
  for (const len of [0, 15, 16, 65535, 65536]) {
    const a = new Array(len).fill(0);
    assert.equal(hex(encode(a)), hex(ref.encode(a)), `array len ${len}`);
    const o = Object.fromEntries(Array.from({ length: len }, (_, i) => [`k${i}`, i]));
    assert.equal(hex(encode(o)), hex(ref.encode(o)), `map len ${len}`);
  }
  assert.equal(hex(encode(0.5)), "cb3fe0000000000000");
  assert.equal(hex(encode(-0)), "cb8000000000000000");
  assert.ok(Object.is(decode(encode(-0)), -0));
  assert.equal(hex(encode(2 ** 60)), "cb43b0000000000000", "unsafe integer Numbers are floats, never rounded ints");
});

test("BigInt: exact 64-bit round trip, smallest format when small, RangeError when too big", () => {
  for (const v of BOUNDARY_BIGINTS) {
    const bytes = encode(v);
    assert.equal(bytes.length, 9, `${v} takes 9 bytes`);
    assert.equal(decode(bytes), v);
    assert.equal(refDecode(bytes), v);
  }
  assert.equal(hex(encode(5n)), "05");
  assert.equal(hex(encode(-200n)), "d1ff38");
  assert.equal(hex(encode(2n ** 32n)), "cf0000000100000000");
  assert.throws(() => encode(2n ** 64n), RangeError);
  assert.throws(() => encode(-(2n ** 63n) - 1n), RangeError);
  assert.equal(toNumber(1_700_000_000_123_456_789n), 1_700_000_000_123_456_789);
  assert.equal(toNumber(5), 5);
});

test("random values: reference encode -> our decode", () => {
  const seed = Number(process.env.MSGPACK_SEED ?? 0x7ac5);
  const r = rng(seed);
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(r);
    const bytes = refEncode(v);
    assert.deepStrictEqual(norm(decode(bytes)), norm(refDecode(bytes)), `seed ${seed} case ${i}: ${hex(bytes).slice(0, 200)}`);
  }
});

test("float32 (which the reference writes with forceFloat32) decodes like the reference", () => {
  const r = rng(32);
  for (let i = 0; i < 2000; i++) {
    const v = (r() - 0.5) * 10 ** Math.floor(r() * 60 - 30);
    if (Number.isInteger(v)) continue; // the reference writes integers as ints
    const bytes = ref.encode(v, { forceFloat32: true });
    assert.equal(bytes[0], 0xca);
    assert.equal(decode(bytes), ref.decode(bytes));
    assert.equal(decode(bytes), Math.fround(v));
  }
});

test("random values: our encode -> reference decode, byte-equal where formats agree", () => {
  const seed = Number(process.env.MSGPACK_SEED ?? 0xbeef);
  const r = rng(seed);
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(r);
    const ours = encode(v);
    assert.deepStrictEqual(norm(refDecode(ours)), norm(v), `seed ${seed} case ${i}`);
    assert.deepStrictEqual(norm(decode(ours)), norm(v), `seed ${seed} case ${i} (self)`);
    // The reference writes every BigInt as 9 bytes; everything else must be identical.
    if (!containsBigInt(v)) assert.equal(hex(ours), hex(ref.encode(v)), `seed ${seed} case ${i}`);
  }
});

test("protocol messages: ticks and snapshots with u64 ns timestamps, since positions round-trip exactly", () => {
  const epoch = 1_767_225_600_000_000_123n;
  const ts = 1_767_225_612_345_678_901n;
  const tick = {
    type: "tick", topic: "ticks.AAPL", seq: 42, ts, symbol: "AAPL",
    price: 187.23, size: 100, bid: 187.22, ask: 187.24, volume: 1_234_567,
  };
  const snapshot = {
    type: "snapshot", topic: "ticks.AAPL", epoch, seq: 41, recovered: false, ts, symbol: "AAPL",
    price: 187.2, size: 5, bid: 187.19, ask: 187.21, volume: 1_234_467, open: 185, high: 188.5,
    low: 184.75, prev_close: 186.01, state: "open",
  };
  const welcome = {
    type: "welcome", protocol: 1, server: "tickcast/0.1.0", epoch, heartbeat_ms: 1000,
    max_message_bytes: 65536, max_subscriptions: 64, ts,
  };
  for (const msg of [tick, snapshot, welcome]) {
    const got = decode(refEncode(msg));
    assert.deepStrictEqual(got, msg);
    assert.equal(typeof got.ts, "bigint");
    // latency in ms from a ns timestamp: the Number conversion is good to well under 1 µs
    assert.ok(Math.abs(toNumber(got.ts) / 1e6 - Number(ts / 1000n) / 1e3) < 0.001);
  }
  // the client's subscribe with `since`: epoch must survive exactly
  const sub = { type: "subscribe", id: 7, topics: ["ticks.*"], since: { "ticks.AAPL": [decode(refEncode(snapshot)).epoch, 41] } };
  const back = refDecode(encode(sub));
  assert.equal(back.since["ticks.AAPL"][0], epoch);
  assert.equal(back.since["ticks.AAPL"][1], 41);
  // absent optional fields are omitted, not sent as nil
  assert.deepStrictEqual(refDecode(encode({ type: "ping", id: undefined })), { type: "ping" });
});

test("accepts ArrayBuffer, Uint8Array views with an offset, and DataView", () => {
  const inner = ref.encode({ type: "heartbeat", ts: 1 });
  const padded = new Uint8Array(inner.length + 6);
  padded.set(inner, 3);
  const view = padded.subarray(3, 3 + inner.length);
  assert.deepStrictEqual(decode(view), { type: "heartbeat", ts: 1 });
  assert.deepStrictEqual(decode(view.slice().buffer), { type: "heartbeat", ts: 1 });
  assert.deepStrictEqual(decode(new DataView(padded.buffer, 3, inner.length)), { type: "heartbeat", ts: 1 });
  assert.throws(() => decode("c0"), TypeError);
});

test("malformed input: every truncation, trailing bytes, reserved/ext types, bad UTF-8, depth", () => {
  const full = ref.encode({
    type: "tick", topic: "ticks.AAPL", seq: 2 ** 40, ts: 2n ** 62n, price: 1.5, f: new Uint8Array(3),
    arr: [1, -200, "é", null, true, 0.25], s: "x".repeat(40),
  }, { useBigInt64: true });
  for (let n = 0; n < full.length; n++) {
    assert.throws(() => decode(full.subarray(0, n)), DecodeError, `prefix of ${n} bytes`);
  }
  assert.throws(() => decode(Uint8Array.of(0xc0, 0x00)), /trailing/);
  assert.throws(() => decode(Uint8Array.of(0xc1)), /reserved/);
  for (const b of [0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8]) {
    assert.throws(() => decode(Uint8Array.of(b, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)), /ext/);
  }
  assert.throws(() => decode(Uint8Array.of(0xa2, 0xc3, 0x28)), /UTF-8/);
  assert.throws(() => decode(Buffer.from("d9" + "28" + "ff".repeat(40), "hex")), /UTF-8/);
  assert.throws(() => decode(Uint8Array.of(0x81, 0xc0, 0x01)), /map key/);
  assert.throws(() => decode(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff)), /truncated/, "huge length is rejected before allocating");
  const deep = new Uint8Array(MAX_DEPTH + 2).fill(0x91);
  deep[deep.length - 1] = 0x00;
  assert.throws(() => decode(deep), /nesting/);
  const ok = new Uint8Array(MAX_DEPTH + 1).fill(0x91);
  ok[ok.length - 1] = 0x00;
  assert.doesNotThrow(() => decode(ok));
  assert.throws(() => encode(() => 1), TypeError);
  assert.throws(() => encode(Symbol("x")), TypeError);
  let nested = 1;
  for (let i = 0; i < MAX_DEPTH + 1; i++) nested = [nested];
  assert.throws(() => encode(nested), RangeError);
});

test("__proto__ keys are plain data, never a prototype", () => {
  const bytes = Buffer.from("81a95f5f70726f746f5f5f81a17801", "hex"); // {"__proto__": {"x": 1}}
  const got = decode(bytes);
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal(got.x, undefined);
  assert.deepStrictEqual(Object.keys(got), ["__proto__"]);
});

test("decodes a burst of ticks fast enough for thousands per second", () => {
  const frames = Array.from({ length: 20000 }, (_, i) => ref.encode({
    type: "tick", topic: "ticks.AAPL", seq: i, ts: 1_767_225_612_345_678_901n + BigInt(i), symbol: "AAPL",
    price: 187.23 + i / 100, size: 100, bid: 187.22, ask: 187.24, volume: 1_234_567 + i,
  }, { useBigInt64: true }));
  const t0 = performance.now();
  for (const f of frames) decode(f);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `20k ticks took ${ms.toFixed(0)} ms`);
});
