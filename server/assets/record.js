// Opt-in record of what the page receives, for the fault-injection suite (RELIABILITY.md):
// with `?record=1`, every tick and snapshot is noted as {topic, epoch, seq, type} and every
// announced loss (recovered: false, a new epoch, lagged) as {type: "gap", ...}, and
// window.tickcast.drainRecords() hands them over (and forgets them). Off by default: the
// page then keeps nothing.
export const RECORD = new URLSearchParams(location.search).get("record") === "1";

let records = [];
const num = (v) => (v === null || v === undefined ? null : Number(v)); // epochs and seqs < 2^53

/** Notes message `m`; `epochBefore` is its topic's epoch before the page applied it. */
export function recordMessage(m, epochBefore, epochAfter) {
  if (!RECORD) return;
  if (m.type === "lagged") {
    for (const topic of m.topics ?? []) records.push({ type: "gap", topic, epoch: null, reason: "lagged" });
    return;
  }
  if (m.type !== "tick" && m.type !== "snapshot") return;
  const epoch = num(m.epoch ?? epochAfter ?? epochBefore);
  if (m.recovered === false) records.push({ type: "gap", topic: m.topic, epoch, reason: "not_recovered" });
  else if (m.type === "snapshot" && epochBefore !== null && epochBefore !== undefined && String(epochBefore) !== String(m.epoch)) {
    records.push({ type: "gap", topic: m.topic, epoch, reason: "new_epoch" });
  }
  records.push({ topic: m.topic, epoch, seq: num(m.seq), type: m.type });
}

/** What was recorded since the last call. */
export function drainRecords() {
  const out = records;
  records = [];
  return out;
}
