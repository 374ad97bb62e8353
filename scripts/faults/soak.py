"""Soak (long form): waves of short-lived clients against one node, beside a control
subscriber. Each client does one of: subscribe and read; resume with `since`; stall (stop
reading); send garbage; vanish with a TCP reset (SO_LINGER 0). Afterwards the node's RSS must
be back within baseline + history allowance + slack, its open fds back to baseline, and the
control subscriber must have seen no duplicate and no unannounced hole."""

import asyncio
import os
import random
import socket
import struct
import time

import msgpack
import websockets
from websockets.asyncio.client import connect

from observers import RawObserver
import verdicts

SLACK_MIB = 32  # allowance for allocator caches and the runtime, on top of history
HISTORY_BYTES = 512  # per message kept in a topic's ring, generously


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def client(url, behavior, since, patterns):
    """One short-lived client; returns the ticks it received."""
    got = 0
    async with connect(url, subprotocols=["tickcast.v1.msgpack"], open_timeout=5,
                       ping_interval=None, max_queue=4) as ws:
        await asyncio.wait_for(ws.recv(), 5)  # welcome
        request = {"type": "subscribe", "id": 1, "topics": patterns}
        if behavior == "resume" and since:
            request["since"] = since
        if behavior == "garbage":
            for _ in range(3):
                await ws.send(os.urandom(random.randint(1, 200)))
                await ws.send("not json {" + "x" * random.randint(0, 100))
            await ws.send(msgpack.packb({"type": "subscribe", "topics": ["ticks..bad"]}))
        await ws.send(msgpack.packb(request))
        end = time.monotonic() + random.uniform(0.5, 3)
        if behavior == "stall":
            await asyncio.sleep(random.uniform(3, 8))
            return got
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(ws.recv(), 1)
                got += 1
            except asyncio.TimeoutError:
                break
        if behavior == "reset":
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()
    return got


async def raw_garbage(port):
    """Not even HTTP: bytes, then a reset."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(os.urandom(512))
    await w.drain()
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


async def run(cluster, node, minutes, patterns, args):
    url = cluster.url(node)
    control = RawObserver("control", "control", [url], patterns)
    control.phase = "soak"
    await control.start()
    await asyncio.sleep(5)
    pid = node.pid
    rss0, fd0 = rss_kib(pid), fds(pid)
    behaviors = ["subscribe", "resume", "stall", "garbage", "reset"]
    churned, failures, waves = 0, 0, 0
    end = time.monotonic() + minutes * 60
    peak_rss = rss0
    while time.monotonic() < end:
        since = {t: list(p) for t, p in control.position.items()}
        jobs = [asyncio.wait_for(client(url, random.choice(behaviors), since, patterns), 20)
                for _ in range(args.wave)]
        jobs += [asyncio.wait_for(raw_garbage(node.port), 5) for _ in range(args.wave // 20)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        churned += len(jobs)
        failures += sum(isinstance(r, Exception) for r in results)
        waves += 1
        print(f"   wave {waves}: {len(jobs)} clients, {failures} errors so far, "
              f"RSS {rss_kib(pid) / 1024:.1f} MiB, {fds(pid)} fds", flush=True)
        peak_rss = max(peak_rss, rss_kib(pid))
        await asyncio.sleep(1)
    # Let the node drop the stalled connections (3 heartbeats + 5 s) and settle.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and fds(pid) > fd0:
        await asyncio.sleep(1)
    await asyncio.sleep(3)
    rss1, fd1 = rss_kib(pid), fds(pid)
    await control.stop()
    topics = len({e["topic"] for e in control.events if e["kind"] == "data"})
    bound = rss0 + (topics * args.history * HISTORY_BYTES) // 1024 + SLACK_MIB * 1024
    stats, _ = verdicts.analyze(control.events, lambda p: False)
    st = {c: stats[("soak", "ticks")][c] + stats[("soak", "bars")][c] for c in verdicts.COLUMNS}
    ticks = sum(1 for e in control.events if e["kind"] == "data" and e["type"] == "tick")
    ok = rss1 <= bound and fd1 <= fd0 and st["data"] > 0 and not (
        st["dup"] or st["regress"] or st["holes_unann"] or st["epochs_unann"])
    text = "\n".join([
        f"== soak {'ok' if ok else 'FAILED'}: {minutes} min, {waves} waves, {churned} clients churned "
        f"({failures} ended in an error, as garbage and stalls may)",
        f"   {node.name} RSS: before {rss0 / 1024:.1f} MiB, peak {peak_rss / 1024:.1f} MiB, after "
        f"{rss1 / 1024:.1f} MiB, bound {bound / 1024:.1f} MiB (baseline + {topics} topics x "
        f"{args.history} x {HISTORY_BYTES} B + {SLACK_MIB} MiB)",
        f"   {node.name} open fds: before {fd0}, after {fd1} (must not exceed before)",
        f"   control subscriber: {ticks} ticks, {st['data']} data messages, holes announced "
        f"{st['holes_ann']}, unannounced {st['holes_unann']}, duplicates {st['dup']}, "
        f"regressions {st['regress']}, reconnects {control.reconnects}",
    ])
    return {"ok": ok, "text": text}
