"""`subscribe(..., rewind=N)` against the real tickcast-server: the window (a snapshot
standing for its oldest trade, then ticks; or bars), the seam to live messages, a window
larger than what the server holds, reconnects (resumed, never rewound again) and a server
restart (one announced gap, then the new epoch's window)."""

from __future__ import annotations

import tickcast
from tickcast import Bar, Gap, Snapshot, Tick

from conftest import HISTORY, ProxyFactory, Server
from support import SYMBOLS, Seen, acked, read_until


async def publish(pub: tickcast.Feed, first: int, last: int) -> None:
    """Trades `first`..`last` on fx.EURUSD (seq i has size i)."""
    for i in range(first, last + 1):
        await pub.publish("fx.EURUSD", 1.08 + i / 10_000, i)


def snapshots(seen: Seen) -> list[Snapshot]:
    return [i for i in seen.items if isinstance(i, Snapshot)]


async def test_the_window_then_live_with_no_seam(server: Server) -> None:
    url = await server.start("--no-simulator", "--publish-token", "pub")
    async with tickcast.connect(url, token="pub") as pub, tickcast.connect(url) as feed:
        await publish(pub, 1, 30)
        sub = feed.subscribe("fx.EURUSD", rewind=10)
        await acked(sub)
        await publish(pub, 31, 32)
        seen = Seen()
        await read_until(sub, seen, lambda: len(seen.items) >= 12, timeout=10)
        first, *rest = seen.items
        # One snapshot standing for the oldest trade of the window, then ticks, then live.
        assert isinstance(first, Snapshot) and first.recovered is None
        assert (first.seq, first.size) == (21, 21)
        assert all(isinstance(i, Tick) for i in rest)
        assert [i.seq for i in seen.items] == list(range(21, 33))
        assert [i.size for i in rest if isinstance(i, Tick)] == list(range(22, 33))
        assert {i.epoch for i in rest if isinstance(i, Tick)} == {first.epoch}
        assert seen.gaps == []
        assert feed.positions["fx.EURUSD"] == (first.epoch, 32)


async def test_a_window_larger_than_held_gives_what_is_held(server: Server) -> None:
    url = await server.start("--no-simulator", "--publish-token", "pub", "--history", "20")
    async with tickcast.connect(url, token="pub") as pub, tickcast.connect(url) as feed:
        await publish(pub, 1, 30)
        held = await feed.history("fx.EURUSD")
        assert [m.seq for m in held.messages] == list(range(11, 31))
        sub = feed.subscribe("fx.EURUSD", rewind=1000)
        await acked(sub)
        await publish(pub, 31, 31)
        seen = Seen()
        await read_until(sub, seen, lambda: len(seen.items) >= 21, timeout=10)
        assert [i.type for i in seen.items] == ["snapshot"] + ["tick"] * 20
        assert [i.seq for i in seen.items] == list(range(11, 32))
        assert seen.items[0].epoch == held.epoch and seen.gaps == []
        # Nothing more came: no second window, no repeated seq.
        extra = Seen()
        extra.last = dict(seen.last)
        await publish(pub, 32, 32)
        await read_until(sub, extra, lambda: len(extra.items) >= 1, timeout=5)
        assert [i.seq for i in extra.items] == [32]


async def test_a_topic_subscribed_again_starts_afresh(server: Server) -> None:
    url = await server.start("--no-simulator", "--publish-token", "pub")
    async with tickcast.connect(url, token="pub") as pub, tickcast.connect(url) as feed:
        await publish(pub, 1, 10)
        seen = Seen()
        sub = feed.subscribe("fx.EURUSD", rewind=5)
        await read_until(sub, seen, lambda: len(seen.items) >= 5, timeout=10)
        await sub.aclose()
        assert "fx.EURUSD" not in feed.positions  # nobody follows it: no position kept
        await publish(pub, 11, 30)
        again = Seen()
        await read_until(
            feed.subscribe("fx.EURUSD", rewind=5), again, lambda: len(again.items) >= 5
        )
        # A new window, not a jump from seq 10 announced as a loss.
        assert [(i.type, i.seq) for i in again.items][:2] == [("snapshot", 26), ("tick", 27)]
        assert again.gaps == []


async def test_simulated_ticks_and_bars_rewind_into_live(server: Server) -> None:
    url = await server.start(*HISTORY)
    async with tickcast.connect(url) as feed:
        ticks, bars = "ticks.SYN0001", "bars.1s.SYN0002"
        before = {t: (await feed.history(t, limit=1)).messages[-1].seq for t in (ticks, bars)}
        seen = Seen()
        sub = feed.subscribe(ticks, bars, rewind=400)
        await read_until(sub, seen, lambda: seen.count[ticks] >= 450 and seen.count[bars] >= 402)
        assert seen.gaps == [] and seen.lagged == []
        tick_items = [i for i in seen.items if i.topic == ticks]
        bar_items = [i for i in seen.items if i.topic == bars]
        # Ticks: exactly one snapshot, first, standing for the oldest trade of the window.
        first = tick_items[0]
        assert isinstance(first, Snapshot) and len(snapshots(seen)) == 1
        assert all(isinstance(i, Tick) and i.epoch == first.epoch for i in tick_items[1:])
        # The window ends at the latest trade of the subscribe, not before what `before` saw.
        assert before[ticks] - 399 <= first.seq <= before[ticks]
        # Bars: all bars, each carrying the epoch; 400 of them before the live ones.
        assert all(isinstance(i, Bar) and i.epoch == first.epoch for i in bar_items)
        assert before[bars] - 399 <= bar_items[0].seq <= before[bars] - 390
        for topic, items in ((ticks, tick_items), (bars, bar_items)):
            seqs = [i.seq for i in items]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), topic
            assert feed.positions[topic] == (first.epoch, seqs[-1])


async def test_a_reconnect_resumes_and_never_rewinds_again(
    server: Server, proxy_factory: ProxyFactory
) -> None:
    await server.start(*HISTORY)
    proxy, url = await proxy_factory(server.addr)
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("ticks.*", rewind=50)
        await read_until(sub, seen, lambda: all(seen.count[f"ticks.{s}"] >= 60 for s in SYMBOLS))
        for _ in range(2):
            proxy.cut()
            before = dict(seen.count)
            await read_until(
                sub,
                seen,
                lambda: all(seen.count[f"ticks.{s}"] >= before[f"ticks.{s}"] + 10 for s in SYMBOLS),
            )
        assert feed.connections == 3
        assert seen.gaps == [] and seen.lagged == []  # Seen also refused any repeated seq
        assert sorted(s.topic for s in snapshots(seen)) == [f"ticks.{s}" for s in SYMBOLS]
        for s in snapshots(seen):
            assert next(i for i in seen.items if i.topic == s.topic) is s


async def test_a_server_restart_is_one_gap_then_the_new_window(server: Server) -> None:
    await server.start(*HISTORY)
    ticks, bars = "ticks.SYN0001", "bars.1s.SYN0001"
    async with tickcast.connect(server.url) as feed:
        seen = Seen()
        sub = feed.subscribe(ticks, bars, rewind=20)
        await read_until(sub, seen, lambda: seen.count[ticks] >= 30 and seen.count[bars] >= 21)
        old = feed.positions
        await server.restart(*HISTORY)
        mark = len(seen.items)
        await read_until(
            sub,
            seen,
            lambda: sum(1 for i in seen.items[mark:] if i.topic == ticks) >= 30
            and sum(1 for i in seen.items[mark:] if i.topic == bars) >= 21,
            timeout=30,
        )
        assert feed.connections == 2
        latest = {t: (await feed.history(t, limit=1)).messages[-1].seq for t in (ticks, bars)}
        after = seen.items[mark:]
        for topic in (ticks, bars):
            items = [i for i in after if i.topic == topic]
            gap, state, *rest = items
            assert isinstance(gap, Gap) and gap.cause == "new_epoch"
            assert gap.previous_epoch == old[topic][0] and gap.epoch != old[topic][0]
            # The window of the new epoch, announced as not recovered, then in order.
            assert isinstance(state, Snapshot if topic == ticks else Bar)
            assert state.recovered is False and state.epoch == gap.epoch
            assert gap.received == state.seq <= latest[topic] - 19
            assert not any(isinstance(i, Gap | Snapshot) for i in rest)
            seqs = [i.seq for i in items[1:]]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert len(seen.gaps) == 2

    # A later feed with the old positions and rewind: the same, one gap then the window.
    async with tickcast.connect(server.url) as feed:
        later = Seen()
        later.last = dict(old)
        sub = feed.subscribe(ticks, since={ticks: old[ticks]}, rewind=20)
        await read_until(sub, later, lambda: later.count[ticks] >= 25)
        gap, state, *rest = later.items
        assert isinstance(gap, Gap) and gap.cause == "new_epoch"
        assert isinstance(state, Snapshot) and state.recovered is False
        assert later.gaps == [gap] and all(isinstance(i, Tick) for i in rest)
