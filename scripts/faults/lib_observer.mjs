// The JavaScript client library (clients/js) as an observer of the fault suite: prints one JSON
// line per message the program gets ({topic, epoch, seq, type}) and one per loss the *server*
// announced ({type: "gap", topic, epoch, reason}: a recovered:false, a new epoch, a lagged). A
// gap the library found by a bare seq jump is not printed: the verdicts must see it as the
// unannounced hole it is.
//   node --experimental-websocket lib_observer.mjs URL PATTERN...
import { connect } from "../../clients/js/index.js";

const [url, ...patterns] = process.argv.slice(2);
const out = (fields) =>
  process.stdout.write(JSON.stringify(fields, (_, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
process.on("SIGTERM", () => process.exit(0));

const feed = await connect(url);
for await (const msg of feed.subscribe(patterns)) {
  if (msg.type === "gap") {
    if (msg.cause === "not_recovered" || msg.cause === "new_epoch") {
      out({ type: "gap", topic: msg.topic, epoch: msg.epoch, reason: msg.cause });
    }
  } else if (msg.type === "lagged") {
    for (const topic of msg.topics) out({ type: "gap", topic, epoch: null, reason: "lagged" });
  } else if (msg.type === "tick" || msg.type === "snapshot" || msg.type === "bar") {
    out({ topic: msg.topic, epoch: msg.epoch, seq: msg.seq, type: msg.type });
  }
}
