"""Subscription options against the real tickcast-server: ``max_rate`` (each topic at most N
messages a second, the newest winning: the skipped seqs are announced by a `Gap` where they
happen, and nowhere else) and ``snapshot=False`` (live messages only, no snapshot first)."""

from __future__ import annotations

import time
from collections import defaultdict

import tickcast
from tickcast import Gap, Snapshot, Tick

from conftest import HISTORY, Server
from support import SYMBOLS, Seen, read_until

TICKS = [f"ticks.{s}" for s in SYMBOLS]


async def test_max_rate_paces_every_topic_and_announces_only_real_jumps(server: Server) -> None:
    rate = 4  # messages a second per topic; the server trades about 200 a second per topic
    url = await server.start("--rate", "1000")
    async with tickcast.connect(url) as feed:
        seen = Seen()
        arrived: dict[str, list[float]] = defaultdict(list)  # topic -> when each tick came

        def enough() -> bool:
            item = seen.items[-1]
            if isinstance(item, Tick):
                arrived[item.topic].append(time.monotonic())
            return all(len(arrived[t]) >= 3 * rate for t in TICKS)

        await read_until(feed.subscribe("ticks.*", max_rate=rate), seen, enough, timeout=20)
    assert seen.lagged == []
    for topic in TICKS:
        # At most `rate` a second: any rate + 1 ticks in a row span a second (less a little
        # for the loopback's jitter); the server spaces them 1/rate s apart.
        times = arrived[topic]
        spans = [later - first for first, later in zip(times, times[rate:])]
        assert min(spans) >= 0.9, (topic, spans)
        # Conflated, and announced exactly where the seqs jump: a gap names the seq after the
        # topic's last one and the seq that follows it; consecutive seqs have no gap between.
        last: int | None = None
        pending: Gap | None = None
        jumps = 0
        for item in seen.items:
            if item.topic != topic:
                continue
            if isinstance(item, Gap):
                assert pending is None and last is not None, (topic, item)
                assert item.cause == "seq_jump" and not item.lagged, item
                assert item.expected == last + 1 and item.received > item.expected, (last, item)
                pending = item
                continue
            assert isinstance(item, Tick | Snapshot), item
            if last is not None and item.seq != last + 1:
                assert pending is not None and pending.received == item.seq, (topic, last, item)
                jumps += 1
            else:
                assert pending is None, f"a gap before a consecutive seq: {pending}, {item}"
            pending, last = None, item.seq
        assert jumps >= 2 * rate, f"{topic}: {jumps} conflated jumps (max_rate not applied?)"


async def test_snapshot_false_starts_every_topic_with_a_live_tick(server: Server) -> None:
    # With a pre-rolled history every topic has traded already: none starts with its first
    # trade (which comes as a snapshot even under snapshot=False, PROTOCOL.md section 8).
    url = await server.start(*HISTORY)
    async with tickcast.connect(url) as feed:
        assert feed.welcome is not None
        seen = Seen()
        await read_until(
            feed.subscribe("ticks.*", snapshot=False),
            seen,
            lambda: all(seen.count[t] >= 5 for t in TICKS),
        )
        epoch = feed.welcome.epoch
    assert not any(isinstance(i, Snapshot) for i in seen.items), seen.items[:10]
    assert seen.gaps == [] and seen.lagged == []
    for topic in TICKS:
        first = next(i for i in seen.items if i.topic == topic)
        assert isinstance(first, Tick) and first.seq > 1, first  # live, mid-history
        # With no snapshot to carry it, a tick's epoch is the (standalone) server's.
        assert first.epoch == epoch, first
    # The same server, without the option: a snapshot first (what snapshot=False left out).
    async with tickcast.connect(url) as feed:
        other = Seen()
        await read_until(feed.subscribe(TICKS[0]), other, lambda: len(other.items) >= 1)
        assert isinstance(other.items[0], Snapshot), other.items[0]
