// Opt-in record of what the page receives, for the fault-injection suite (RELIABILITY.md):
// with `?record=1`, every tick and snapshot is noted as {topic, epoch, seq, type} and every
// loss the *server* announced (a failed resume or a loss upstream: recovered: false; a new
// epoch; a lagged) as {type: "gap", topic, epoch, reason}, and window.tickcast.drainRecords()
// hands them over (and forgets them). A gap the client library found by a bare seq jump is
// not noted: the suite's verdicts must see it as the unannounced hole it is (as
// scripts/faults/lib_observer.mjs does with the same library). Off by default: the page then
// keeps nothing.
export const RECORD = new URLSearchParams(location.search).get("record") === "1";

let records = [];

/** Notes an item of the stream (the library gives ticks their topic's epoch). */
export function recordItem(item) {
  if (!RECORD) return;
  switch (item.type) {
    case "gap":
      if (item.cause === "not_recovered" || item.cause === "new_epoch") {
        records.push({ type: "gap", topic: item.topic, epoch: item.epoch, reason: item.cause });
      }
      break;
    case "lagged":
      for (const topic of item.topics) records.push({ type: "gap", topic, epoch: null, reason: "lagged" });
      break;
    case "tick":
    case "snapshot":
      records.push({ topic: item.topic, epoch: item.epoch, seq: item.seq, type: item.type });
      break;
    default:
      break;
  }
}

/** What was recorded since the last call. */
export function drainRecords() {
  const out = records;
  records = [];
  return out;
}
