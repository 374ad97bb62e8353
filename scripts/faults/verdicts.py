"""Verdicts over one observer's events, per fault phase.

Per topic, in arrival order, against the last (epoch, seq) received:
- dup: the same (topic, epoch, seq) twice;
- regress: seq lower than the last within one epoch (and not a duplicate);
- hole: seq > last + 1 within one epoch. Announced when an announcement for the topic came
  since its previous data message (lagged naming it, a recovered:false snapshot, a new-epoch
  snapshot; for tickcast-sub also a stderr gap line with this topic and `received` = seq).
  In a strict phase (the node the client lands on holds the missed messages) every hole is
  a violation, announced or not; elsewhere only unannounced ones are;
- new epoch: announced when it arrives on a snapshot or a bar carrying it, or after an
  announcement; a tick at a new epoch with neither is a violation;
- silent: the observer received no data at all during the phase.
"""

from collections import defaultdict

COLUMNS = ["data", "dup", "regress", "holes_ann", "holes_unann", "strict_holes", "missed_unann",
           "new_epochs", "epochs_unann", "ann", "multi_ann"]
VIOLATIONS = ["dup", "regress", "holes_unann", "strict_holes", "epochs_unann", "multi_ann", "silent"]


def family(topic):
    return (topic or "?").split(".")[0]  # ticks | bars


def analyze(events, is_strict):
    """events: an observer's list; is_strict(phase) -> bool. Returns (stats, examples):
    stats[(phase, family)][column] counts, family being ticks or bars;
    examples[(phase, family, violation)] = a few event pairs."""
    stats = defaultdict(lambda: dict.fromkeys(COLUMNS + ["silent"], 0))
    examples = defaultdict(list)
    lines = {(e["topic"], e["received"]) for e in events if e["kind"] == "gapline"}
    line_epochs = {(e["topic"], e["epoch"]) for e in events
                   if e["kind"] == "gapline" and e.get("received") is None}
    last, seen, pending = {}, set(), defaultdict(list)

    def bad(phase, what, prev, e):
        key = (phase, family(e["topic"]), what)
        if len(examples[key]) < 3:
            examples[key].append({"previous": prev, "this": e})

    for e in events:
        phase = e["phase"]
        st = stats[(phase, family(e["topic"]))]
        if e["kind"] == "gapline":
            st["ann"] += 1
            continue
        topic = e["topic"]
        if e["kind"] == "ann":
            st["ann"] += 1
            pending[topic].append(e["reason"])
            continue
        st["data"] += 1
        pend = pending.pop(topic, [])
        if len(pend) > 1:
            st["multi_ann"] += 1
        key = (topic, e["epoch"], e["seq"])
        prev = last.get(topic)
        if key in seen:
            st["dup"] += 1
            bad(phase, "dup", prev, e)
            continue
        seen.add(key)
        if prev is None:
            last[topic] = e
            continue
        if e["epoch"] != prev["epoch"]:
            st["new_epochs"] += 1
            if not (pend or e["type"] in ("snapshot", "bar") or (topic, e["epoch"]) in line_epochs):
                st["epochs_unann"] += 1
                bad(phase, "epochs_unann", prev, e)
            last[topic] = e
        elif e["seq"] < prev["seq"]:
            st["regress"] += 1
            bad(phase, "regress", prev, e)
        elif e["seq"] > prev["seq"] + 1:
            announced = bool(pend) or (topic, e["seq"]) in lines
            if announced:
                st["holes_ann"] += 1
                if is_strict(phase):
                    st["strict_holes"] += 1
                    bad(phase, "strict_holes", prev, e)
            else:
                st["holes_unann"] += 1
                st["missed_unann"] += e["seq"] - prev["seq"] - 1
                bad(phase, "holes_unann", prev, e)
            last[topic] = e
        else:
            last[topic] = e
    return stats, examples


def violations(st):
    return {v: st[v] for v in VIOLATIONS if st.get(v)}


def table(rows):
    """rows: list of (phase, observer, family, stats). Returns the printable table."""
    head = ["phase", "observer", "topics", *COLUMNS, "verdict"]
    body = []
    for phase, name, fam, st in rows:
        v = violations(st)
        verdict = "ok" if not v else "FAIL " + ",".join(f"{k}={n}" for k, n in v.items())
        body.append([phase, name, fam, *(str(st[c]) for c in COLUMNS), verdict])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 3 or i == len(r) - 1 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(head), *(fmt(r) for r in body)])
