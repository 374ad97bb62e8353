// A reference WebSocket broadcast server for tickcast-bench, written the way a typical
// Node pub/sub server is: `ws` 8, one `send` per client per message, no batching and no
// slow-consumer policy. It speaks just enough of tickcast protocol v1 for the bench:
// it answers `subscribe` with an `ack`, then sends every subscriber the same
// MessagePack `tick` map as tickcast-server (~100 bytes, `ts` in ns since the epoch,
// `seq` +1 per tick), encoded once per tick, at a constant rate. With --subscribers N
// it starts publishing once N clients have subscribed: a busy Node event loop accepts
// new connections slowly, so ramping up under load would measure that instead.
//
//   node server.js --port 8090 --rate 1000 --subscribers 1000
import { WebSocketServer } from 'ws';
import { decode, encode } from '@msgpack/msgpack';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '8090'));
const rate = Number(arg('rate', '1000'));
const topic = arg('topic', 'ticks.SYN0000');
const waitFor = Number(arg('subscribers', '0'));
const symbol = topic.split('.').pop();

const subscribers = new Set();
const wss = new WebSocketServer({
  host,
  port,
  path: '/ws',
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
  handleProtocols: (offered) => (offered.has('tickcast.v1.msgpack') ? 'tickcast.v1.msgpack' : false),
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    let msg;
    try {
      msg = decode(data);
    } catch {
      return;
    }
    if (msg && msg.type === 'subscribe' && Array.isArray(msg.topics)) {
      ws.send(encode({ type: 'ack', op: 'subscribe', topics: msg.topics, subscriptions: msg.topics }));
      subscribers.add(ws);
      if (!started && subscribers.size >= waitFor) start();
    }
  });
  ws.on('close', () => subscribers.delete(ws));
  ws.on('error', () => subscribers.delete(ws));
});

wss.on('listening', () => console.log(`listening on ws://${host}:${port}/ws`));

// Wall-clock nanoseconds since the UNIX epoch (sub-microsecond resolution).
const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

let seq = 0;
let price = 100;
let volume = 0;
let started = false;
let origin = 0n;

function publish() {
  seq += 1;
  price = Math.max(1, price + (Math.random() - 0.5) * 0.02);
  const size = 100;
  volume += size;
  const frame = encode(
    {
      type: 'tick',
      topic,
      seq,
      ts: nowNs(),
      symbol,
      price,
      size,
      bid: price - 0.01,
      ask: price + 0.01,
      volume,
    },
    { useBigInt64: true },
  );
  for (const ws of subscribers) ws.send(frame, { binary: true });
}

// Constant arrivals: every wake-up publishes all ticks due by now (like tickcast's
// realtime driver), so a server that falls behind publishes in bursts, not slower.
function loop() {
  const due = Number(((process.hrtime.bigint() - origin) * BigInt(Math.round(rate))) / 1_000_000_000n);
  while (seq < due) publish();
  setTimeout(loop, 1);
}

function start() {
  started = true;
  origin = process.hrtime.bigint();
  if (rate > 0) loop();
}
if (waitFor <= 0) start();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    wss.close();
    process.exit(0);
  });
}
