#!/usr/bin/env python3
"""tickcast fault-injection suite (issue #14). Run it through scripts/faults.sh, which installs
what it needs. Starts nats-server, a tickcast-sim source and three tickcast-server nodes behind
a small load balancer, attaches observers, injects each fault of faults.py in turn, and checks
what every observer received (verdicts.py). Exit status 1 on any violation."""

import argparse
import asyncio
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import PHASES  # noqa: E402
from observers import (  # noqa: E402
    LibObserver, RawObserver, RecordObserver, SubObserver, WebObserver)
from procs import Cluster, LoadBalancer  # noqa: E402
import soak  # noqa: E402
import verdicts  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PATTERNS = ["ticks.*", "bars.1s.*"]


def make_observers(args, cluster, lb, workdir):
    a, b, c = cluster.nodes
    py = [args.python, os.path.join(ROOT, "examples/clients/python/client.py")]
    js = ["node", "--experimental-websocket", os.path.join(ROOT, "examples/clients/js/client.mjs")]
    return [
        SubObserver("sub-lb", "lb", args.bin_dir, lb.url(), PATTERNS, workdir),
        SubObserver("sub-A", "pinned", args.bin_dir, cluster.url(a), PATTERNS, workdir),
        RecordObserver("py-lb", "lb", py, lb.url(), PATTERNS, workdir),
        RecordObserver("js-lb", "lb", js, lb.url(), PATTERNS, workdir),
        RecordObserver("py-A", "pinned", py, cluster.url(a), PATTERNS, workdir),
        LibObserver("pylib-lb", "lb", [args.python, os.path.join(HERE, "lib_observer.py")],
                    lb.url(), PATTERNS, workdir),
        LibObserver("jslib-lb", "lb",
                    ["node", "--experimental-websocket", os.path.join(HERE, "lib_observer.mjs")],
                    lb.url(), PATTERNS, workdir),
        WebObserver("web-lb", "lb", lb.url().replace("ws://", "http://").removesuffix("/ws") + "/",
                    "ticks.*", workdir),
        RawObserver("hopper", "hopper", [cluster.url(n) for n in (a, b, c)], PATTERNS, hop_every=3),
        RawObserver("slow", "slow", [lb.url()], PATTERNS, read_delay=0.03),
        RawObserver("stalled", "stalled", [lb.url()], PATTERNS, stalls=(5, [2.5, 6])),
    ]


async def poller(observers):
    while True:
        for o in observers:
            o.poll()
        await asyncio.sleep(0.25)


async def run(args):
    art = args.artifacts
    shutil.rmtree(art, ignore_errors=True)
    logs = os.path.join(art, "logs")
    os.makedirs(logs)
    cluster = Cluster(args.bin_dir, logs, args.rate, args.symbols, history=args.history)
    lb = LoadBalancer(cluster.nodes)
    observers, strict_of, phase_names = [], {}, []
    soak_report = None
    t0 = time.monotonic()
    try:
        print(f"== starting 3 nats-servers (JetStream, stream R3), 3 nodes, source "
              f"(rate {args.rate}, {args.symbols} symbols); binaries from {args.bin_dir}", flush=True)
        await cluster.start()
        await lb.start()
        observers = make_observers(args, cluster, lb, logs)
        for o in observers:
            await o.start()
        polling = asyncio.create_task(poller(observers))
        # Every observer connected, subscribed and receiving (a browser can take a while to
        # start on a loaded machine: a late start must not read as a silent baseline).
        await asyncio.sleep(3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for o in observers:
                o.poll()
            if all(any(e.get("kind") == "data" for e in o.events) for o in observers):
                break
            await asyncio.sleep(0.25)
        dead = [p.name for p in cluster.procs if not p.running()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited at start: see {logs}")
        for cycle in range(args.cycles):
            for name, fault, strict in PHASES:
                label = name if args.cycles == 1 else f"{name}#{cycle + 1}"
                for o in observers:
                    o.poll()
                    o.phase = label
                strict_of[label], _ = strict, phase_names.append(label)
                print(f"== {label} ({time.monotonic() - t0:.0f} s)", flush=True)
                await fault(cluster, lb)
        if args.soak:
            print(f"== soak: {args.soak} min against {cluster.nodes[2].name}", flush=True)
            soak_report = await soak.run(cluster, cluster.nodes[2], args.soak, PATTERNS, args)
        for o in observers:
            o.poll()
            o.phase = "end"
        polling.cancel()
    finally:
        for o in observers:
            await o.stop()
        await lb.close()
        await cluster.close()

    rows, failed, examples_out = [], False, {}
    for o in observers:
        o.dump(os.path.join(art, f"{o.name}.events.jsonl"))
        stats, examples = verdicts.analyze(o.events, lambda p, o=o: o.role in strict_of.get(p, ()))
        for phase in phase_names:
            for fam in ("ticks", "bars"):
                st = stats[(phase, fam)]
                # A slow reader lags its backlog by up to a minute (a queue of ~2,000 frames
                # read at ~30/s): what it reads during a phase is often older (e.g. a
                # replay of ticks only); a stalled one stops reading for 6 s, longer than
                # the 4 s baseline. For them "silent" says nothing.
                # The web page charts ticks only: it subscribes to no bars.
                web_bars = o.name.startswith("web") and fam == "bars"
                if st["data"] == 0 and o.role not in ("slow", "stalled") and not web_bars:
                    st["silent"] = 1
                rows.append((phase, o.name, fam, st))
                failed |= bool(verdicts.violations(st))
        for (phase, fam, what), ex in examples.items():
            if phase in strict_of:
                examples_out.setdefault(o.name, {})[f"{phase}/{fam}/{what}"] = ex
    table = verdicts.table(rows)
    print(table)
    with open(os.path.join(art, "table.txt"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(art, "examples.json"), "w") as f:
        json.dump(examples_out, f, indent=1)
    for name, ex in examples_out.items():
        for key, pairs in ex.items():
            p = pairs[0]
            print(f"   e.g. {name} {key}: {json.dumps(p['previous'])} -> {json.dumps(p['this'])}")
    for what, passed, detail in lb.checks:
        print(f"   health check: {what}: {'ok' if passed else 'FAILED'} ({detail})")
        failed |= not passed
    if soak_report:
        print(soak_report["text"])
        failed |= not soak_report["ok"]
    print(f"== {'FAILED' if failed else 'passed'} in {time.monotonic() - t0:.0f} s; "
          f"records and logs in {art}")
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin-dir", default=os.environ.get("TICKCAST_BIN_DIR"), required=
                   not os.environ.get("TICKCAST_BIN_DIR"), help="where tickcast-* binaries are")
    p.add_argument("--artifacts", default=os.path.join(ROOT, "target/artifacts/faults"))
    p.add_argument("--long", action="store_true", default=os.environ.get("FAULTS_LONG") == "1",
                   help="3 cycles of every fault, then a soak")
    p.add_argument("--cycles", type=int, help="cycles of every fault (default 1, --long 3)")
    p.add_argument("--soak", type=float, help="soak minutes (default 0, --long 10)")
    p.add_argument("--wave", type=int, default=200, help="clients per soak wave")
    p.add_argument("--rate", type=int, default=100, help="source ticks per second")
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--history", type=int, default=1024, help="each node's --history")
    p.add_argument("--python", default=sys.executable, help="python with websockets and msgpack")
    args = p.parse_args()
    args.cycles = args.cycles if args.cycles is not None else (3 if args.long else 1)
    args.soak = args.soak if args.soak is not None else (10 if args.long else 0)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
