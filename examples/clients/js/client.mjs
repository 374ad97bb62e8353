// Minimal tickcast client on the browser WebSocket API. It runs unchanged in Node 20+:
//   npm install && node --experimental-websocket client.mjs [--url URL] [--count N] PATTERN...
// It tracks [epoch, seq] per topic, reports gaps, and after a reconnect subscribes with
// `since`, so the server replays what was missed.
import { decode, encode } from "@msgpack/msgpack";

// epoch and ts are nanoseconds since 1970, above 2^53: read 64-bit integers as BigInt.
const options = { useBigInt64: true };
const giveUp = (code) => [1002, 1003, 1007, 1009].includes(code) || (code >= 4000 && code < 4100);

export function follow(url, patterns, { onTick, onFatal }) {
  const position = {}; // topic -> [epoch, seq] of the last tick or bar we have
  let backoff = 500; // ms, doubled after each failed attempt, at most 30 s

  function connect() {
    const ws = new WebSocket(url, "tickcast.v1.msgpack");
    ws.binaryType = "arraybuffer";
    let epoch, silence, heartbeatMs = 1000, delay = null;
    ws.onmessage = (event) => {
      const msg = decode(new Uint8Array(event.data), options);
      clearTimeout(silence); // nothing for 3 heartbeats: the connection is dead
      silence = setTimeout(() => ws.close(), 3 * heartbeatMs);
      switch (msg.type) {
        case "welcome": {
          [epoch, heartbeatMs, backoff] = [msg.epoch, Number(msg.heartbeat_ms), 500];
          const request = { type: "subscribe", id: 1, topics: patterns };
          if (Object.keys(position).length) request.since = position;
          ws.send(encode(request, options));
          break;
        }
        case "tick":
        case "bar": {
          const seq = BigInt(msg.seq), last = position[msg.topic];
          if (last && last[0] === epoch && seq !== last[1] + 1n) {
            console.error(`gap ${msg.topic} ${last[1]} -> ${seq}`);
          }
          position[msg.topic] = [epoch, seq];
          if (msg.type === "tick") onTick(msg, seq);
          break;
        }
        case "snapshot":
          position[msg.topic] = [msg.epoch, BigInt(msg.seq)];
          break;
        case "lagged":
          console.error(`lagged: ${msg.dropped} dropped on ${msg.topics.join(" ")}`);
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
    ws.onclose = ({ code }) => {
      clearTimeout(silence);
      if (giveUp(code)) return onFatal(`closed with ${code}: not reconnecting`);
      if (code >= 4200 && code < 4300) delay = 0;
      else if (delay === null) [delay, backoff] = [backoff * (0.5 + Math.random()), Math.min(backoff * 2, 30000)];
      console.error(`closed with ${code}; reconnecting in ${Math.round(delay)} ms`);
      setTimeout(connect, delay);
    };
  }
  connect();
}

// Command line (Node): print ticks, exit 0 after --count of them.
if (globalThis.process?.argv?.[1] && import.meta.url === new URL(process.argv[1], "file://").href) {
  let url = "ws://127.0.0.1:8080/ws", count = Infinity, ticks = 0;
  const patterns = [];
  for (let args = process.argv.slice(2); args.length; ) {
    const arg = args.shift();
    if (arg === "--url") url = args.shift();
    else if (arg === "--count") count = Number(args.shift());
    else patterns.push(arg);
  }
  follow(url, patterns.length ? patterns : ["ticks.*"], {
    onTick(msg, seq) {
      console.log(`tick ${msg.topic} ${seq} ${msg.price} ${msg.size}`);
      if (++ticks >= count) process.exit(0);
    },
    onFatal(why) {
      console.error(why);
      process.exit(1);
    },
  });
}
