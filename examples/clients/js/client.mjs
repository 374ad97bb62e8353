// Minimal tickcast client on the browser WebSocket API. It runs unchanged in Node 20+:
//   npm install
//   node --experimental-websocket client.mjs [--url URL] [--token T] [--count N] [--rewind N] [--record FILE] PATTERN...
// It tracks [epoch, seq] per topic, reports gaps, and after a reconnect hands its positions
// over (`resume`, in pieces) before subscribing, so the server replays what was missed. --record FILE appends one JSON line per tick,
// snapshot and bar ({"topic","epoch","seq","type"}) and one per gap the server announced
// ({"type":"gap","topic","epoch","reason"}). --rewind N starts each topic with its latest N
// messages (history, then live). It keeps the order book of every book.SYM topic, verifies
// each update's checksum, prints `book SYM bid@size ask@size`, and on a mismatch or a missed
// update subscribes again. --count N exits after N tick and book lines.
import { decode, encode } from "@msgpack/msgpack";

// ts (nanoseconds since 1970) is above 2^53: read 64-bit integers as BigInt. epoch
// (microseconds, below 2^53) is sent as a 64-bit integer too, so it arrives as a BigInt as well.
const options = { useBigInt64: true };
const giveUp = (code) => [1002, 1003, 1007, 1009].includes(code) || (code >= 4000 && code < 4100);

// CRC-32 (IEEE, as zlib's crc32) of a string's UTF-8 bytes.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
  return n >>> 0;
});
function crc32(text) {
  let crc = -1;
  for (const byte of new TextEncoder().encode(text)) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// A book's checksum: the top 10 asks, "|", the top 10 bids, each level "price_ticks:size".
function checksum(book) {
  const level = ([price, size]) => `${Math.round(price / book.tick_size)}:${size}`;
  const side = (levels) => levels.slice(0, 10).map(level).join(",");
  return crc32(`${side(book.asks)}|${side(book.bids)}`);
}

// A book side after an update's changes (size 0 removes), best first, `depth` levels.
function apply(levels, changes, depth, bids) {
  const side = new Map(levels); // price -> size (the server sends a level's price the same each time)
  for (const [price, size] of changes) {
    if (Number(size)) side.set(price, size);
    else side.delete(price);
  }
  return [...side].sort(([a], [b]) => (bids ? b - a : a - b)).slice(0, depth);
}

export function follow(url, patterns, { token, rewind = 0, onTick, onBook, onFatal, onRecord = () => {} }) {
  const position = {}; // topic -> [epoch, seq] of the last tick or bar we have
  const books = {}; // topic -> the book message, kept up to date by the updates
  let backoff = 500; // ms, doubled after each failed attempt, at most 30 s
  // A browser cannot set headers on a WebSocket (no Authorization): send the token as ?token=.
  if (token) url += `${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;

  function connect() {
    const ws = new WebSocket(url, "tickcast.v1.msgpack");
    ws.binaryType = "arraybuffer";
    let welcomeEpoch, silence, heartbeatMs = 1000, delay = null;
    const subscribe = () => { // hand our positions over, then subscribe
      const pending = Object.entries(position); // in pieces that fit any message size limit
      for (let i = 0; i < pending.length; i += 1000) {
        const since = Object.fromEntries(pending.slice(i, i + 1000));
        ws.send(encode({ type: "resume", since }, options));
      }
      const request = { type: "subscribe", id: 1, topics: patterns };
      if (rewind && !pending.length) request.rewind = rewind; // history first, once
      ws.send(encode(request, options));
    };
    ws.onmessage = (event) => {
      const msg = decode(new Uint8Array(event.data), options);
      clearTimeout(silence); // nothing for 3 heartbeats: the connection is dead
      silence = setTimeout(() => ws.close(), 3 * heartbeatMs);
      switch (msg.type) {
        case "welcome": {
          [welcomeEpoch, heartbeatMs, backoff] = [msg.epoch, Number(msg.heartbeat_ms), 500];
          subscribe();
          break;
        }
        case "tick":
        case "bar":
        case "snapshot": {
          const seq = BigInt(msg.seq), last = position[msg.topic], topic = msg.topic;
          // The topic's epoch (section 14): a snapshot names it (so does a bar that carries one),
          // a tick keeps its topic's; a topic not seen yet has welcome's.
          const epoch = msg.epoch ?? (last ? last[0] : welcomeEpoch);
          // Announced gaps: a failed resume or a loss upstream (recovered: false), or a new
          // epoch (the source restarted).
          if (msg.recovered === false) {
            onRecord({ type: "gap", topic, epoch, reason: "not_recovered" });
          } else if (msg.type === "snapshot" && last && last[0] !== epoch) {
            onRecord({ type: "gap", topic, epoch, reason: "new_epoch" });
          }
          // Already had (a replay after subscribing again may repeat it): drop it.
          if (msg.type !== "snapshot" && last && last[0] === epoch && seq <= last[1]) break;
          // A new epoch restarts the topic's seqs: that is not a gap.
          if (last && last[0] === epoch && seq !== last[1] + 1n) {
            console.error(`gap ${msg.topic} ${last[1]} -> ${seq}`);
          }
          position[msg.topic] = [epoch, seq];
          onRecord({ topic, epoch, seq, type: msg.type });
          if (msg.type === "tick") onTick(msg, seq);
          break;
        }
        case "book":
        case "book_update": {
          const topic = msg.topic;
          let book = books[topic];
          if (msg.type === "book") book = books[topic] = { ...msg, seq: BigInt(msg.seq) }; // replaces ours
          else if (!book) break; // waiting for the fresh book we subscribed again for
          else if (BigInt(msg.prev_seq) === book.seq) { // seq may skip, prev_seq never
            book.bids = apply(book.bids, msg.bids, book.depth, true);
            book.asks = apply(book.asks, msg.asks, book.depth, false);
            book.seq = BigInt(msg.seq);
          } else book = null; // we missed an update
          if (!book || checksum(book) !== Number(msg.checksum)) {
            const why = book ? "checksum mismatch" : "missed an update";
            console.error(`gap ${topic} ${why} at ${msg.seq}: subscribing again`);
            delete books[topic];
            // All our patterns: a book.* would stay if we dropped book.SYM alone.
            ws.send(encode({ type: "unsubscribe", topics: patterns }, options));
            subscribe();
            break;
          }
          onBook(book);
          break;
        }
        case "lagged":
          console.error(`lagged: ${msg.dropped} dropped on ${msg.topics.join(" ")}`);
          for (const topic of msg.topics) {
            onRecord({ type: "gap", topic, epoch: position[topic]?.[0] ?? null, reason: "lagged" });
          }
          break;
        case "error":
          console.error(`error ${msg.code}: ${msg.message}`);
          if (msg.id === 1) onFatal(`subscribe refused: ${msg.code}`); // retrying will not help
          break;
        case "shutdown":
          delay = Number(msg.reconnect_after_ms) + Math.random() * 1000;
          break;
      }
    };
    ws.onclose = ({ code, reason }) => {
      ws.onclose = ws.onerror = null; // handle only the first of error and close
      clearTimeout(silence);
      if (giveUp(code)) return onFatal(`closed with ${code} (${reason}): not reconnecting`);
      if (code >= 4200 && code < 4300) delay = 0;
      else if (delay === null) [delay, backoff] = [backoff * (0.5 + Math.random()), Math.min(backoff * 2, 30000)];
      console.error(`closed with ${code}; reconnecting in ${Math.round(delay)} ms`);
      setTimeout(connect, delay);
    };
    // A failed connection fires error, then close 1006 (Node 20: error only). The WebSocket API
    // hides the HTTP status, so a refused token (401) is retried like a server that is down (503).
    ws.onerror = () => ws.onclose({ code: 1006, reason: "connection failed" });
  }
  connect();
}

// Command line (Node): print ticks and books, exit 0 after --count of them.
if (globalThis.process?.argv?.[1] && import.meta.url === new URL(process.argv[1], "file://").href) {
  let url = "ws://127.0.0.1:8080/ws", token, record, count = Infinity, rewind = 0, printed = 0;
  const patterns = [];
  for (let args = process.argv.slice(2); args.length; ) {
    const arg = args.shift();
    if (arg === "--url") url = args.shift();
    else if (arg === "--token") token = args.shift();
    else if (arg === "--count") count = Number(args.shift());
    else if (arg === "--rewind") rewind = Number(args.shift());
    else if (arg === "--record") record = args.shift();
    else patterns.push(arg);
  }
  follow(url, patterns.length ? patterns : ["ticks.*"], {
    token,
    rewind,
    onRecord: record && (await recorder(record)),
    onTick(msg, seq) {
      console.log(`tick ${msg.topic} ${seq} ${msg.price} ${msg.size}`);
      if (++printed >= count) process.exit(0);
    },
    onBook(book) {
      const best = (levels) => (levels.length ? `${levels[0][0]}@${levels[0][1]}` : "-");
      console.log(`book ${book.symbol} ${best(book.bids)} ${best(book.asks)}`);
      if (++printed >= count) process.exit(0);
    },
    onFatal(why) {
      console.error(why);
      process.exit(1);
    },
  });
}

// --record FILE: one JSON line per call (epoch and seq, BigInts, are below 2^53: written as numbers).
async function recorder(file) {
  const { appendFileSync } = await import("node:fs");
  const json = (fields) => JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? Number(v) : v));
  return (fields) => appendFileSync(file, json(fields) + "\n");
}
