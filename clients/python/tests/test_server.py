"""Against the real tickcast-server binary: subscribe, wildcards, restart, reconnect through a
cut proxy, heartbeat liveness, slow consumer, tokens, publish, final close codes, `since`.
Every wait is bounded by a timeout."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import tickcast
from tickcast import Snapshot, Tick

from conftest import SLOW, ProxyFactory, Server
from support import SYMBOLS, Seen, acked, jwt, read_until, read_until_lagged


async def test_subscribe_and_wildcards(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        assert feed.welcome is not None and feed.welcome.protocol == 1
        seen = Seen()
        sub = feed.subscribe("ticks.SYN0001", "bars.1s.*")
        await read_until(
            sub,
            seen,
            lambda: seen.count["ticks.SYN0001"] >= 20
            and sum(1 for t in seen.count if t.startswith("bars.1s.")) >= 3,
        )
        topics = {i.topic for i in seen.items}
        assert topics <= {"ticks.SYN0001"} | {f"bars.1s.{s}" for s in SYMBOLS}
        assert seen.gaps == [] and seen.lagged == []
        first = next(i for i in seen.items if i.topic == "ticks.SYN0001")
        assert isinstance(first, Snapshot) and first.recovered is None
        ticks = [i for i in seen.items if isinstance(i, Tick)]
        assert ticks and all(t.epoch == first.epoch for t in ticks)
        assert sub.ack is not None and sub.ack.subscriptions == ["bars.1s.*", "ticks.SYN0001"]


async def test_readme_example_runs_as_written(server: Server) -> None:
    # As a user runs it: 50 US equities (AAPL exists), a trading day pre-rolled.
    url = await server.start("--seed", "7", base=False)
    code = (
        "import asyncio, tickcast\n\n"
        "async def main():\n"
        '    async with tickcast.connect("ws://127.0.0.1:8080/ws") as feed:\n'
        '        async for msg in feed.subscribe("ticks.AAPL", "bars.1m.*"):\n'
        "            print(msg.type, msg.topic, msg.seq)\n\n"
        "asyncio.run(main())\n"
    ).replace("ws://127.0.0.1:8080/ws", url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[list[str]] = []
    try:
        while sum(1 for line in lines if line[1] == "ticks.AAPL") < 5:
            wait = 30 if not lines else 15
            lines.append((await asyncio.wait_for(proc.stdout.readline(), wait)).decode().split())
            assert len(lines) < 200, lines
    finally:
        proc.kill()
        await proc.wait()
    # First the latest minute bar of every symbol (topics in name order), then AAPL's
    # snapshot and its trades.
    aapl = [i for i, line in enumerate(lines) if line[1] == "ticks.AAPL"]
    bars = lines[: aapl[0]]
    assert all(kind == "bar" for kind, _, _ in bars), lines
    assert len({topic for _, topic, _ in bars}) == 50, lines
    assert [line[0] for line in lines[aapl[0]:]][:1] == ["snapshot"], lines
    ticks = [int(seq) for kind, topic, seq in lines if topic == "ticks.AAPL"]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), lines


async def test_server_restart_is_one_new_epoch_gap_per_topic(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("ticks.*")
        await read_until(sub, seen, lambda: all(seen.count[f"ticks.{s}"] >= 5 for s in SYMBOLS))
        old_epoch = {t: p[0] for t, p in feed.positions.items()}
        await server.restart()  # shutdown + close 1001
        before = dict(seen.count)
        await read_until(
            sub,
            seen,
            lambda: all(seen.count[f"ticks.{s}"] >= before[f"ticks.{s}"] + 5 for s in SYMBOLS),
            timeout=30,
        )
        assert feed.connections == 2
        by_topic = defaultdict(list)
        for g in seen.gaps:
            by_topic[g.topic].append(g)
        assert sorted(by_topic) == [f"ticks.{s}" for s in SYMBOLS], seen.gaps
        for topic, gaps in by_topic.items():
            assert len(gaps) == 1, gaps
            assert gaps[0].cause == "new_epoch" and gaps[0].previous_epoch == old_epoch[topic]
            assert gaps[0].epoch != old_epoch[topic]


async def test_reconnect_through_a_cut_connection_resumes_with_no_hole(
    server: Server, proxy_factory: ProxyFactory
) -> None:
    await server.start()
    proxy, url = await proxy_factory(server.addr)
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("ticks.*", "bars.1s.*")
        await read_until(sub, seen, lambda: all(seen.count[f"ticks.{s}"] >= 10 for s in SYMBOLS))
        for _ in range(2):
            proxy.cut()
            before = dict(seen.count)
            await read_until(
                sub,
                seen,
                lambda: all(seen.count[f"ticks.{s}"] >= before[f"ticks.{s}"] + 10 for s in SYMBOLS),
            )
        assert feed.connections == 3
        assert seen.gaps == [] and seen.lagged == []


async def test_a_silent_connection_is_closed_and_resumed(
    server: Server, proxy_factory: ProxyFactory
) -> None:
    await server.start("--heartbeat-ms", "500")
    proxy, url = await proxy_factory(server.addr)
    async with tickcast.connect(url) as feed:
        seen = Seen()
        sub = feed.subscribe("ticks.*")
        await read_until(sub, seen, lambda: all(seen.count[f"ticks.{s}"] >= 5 for s in SYMBOLS))
        proxy.freeze()
        started = time.monotonic()
        before = dict(seen.count)
        await read_until(
            sub,
            seen,
            lambda: all(seen.count[f"ticks.{s}"] >= before[f"ticks.{s}"] + 5 for s in SYMBOLS),
            timeout=15,
        )
        assert feed.connections == 2
        assert time.monotonic() - started >= 1.4  # 3 x 500 ms of silence first
        assert seen.gaps == []


async def test_slow_consumer_sees_lagged_and_a_gap(server: Server) -> None:
    await server.start(*SLOW)
    async with tickcast.connect(server.url, buffer=1) as feed:
        seen = Seen()
        await read_until_lagged(feed.subscribe("ticks.*"), seen)
        lagged_topics = {t for lag in seen.lagged for t in lag.topics}
        assert all(g.cause == "seq_jump" for g in seen.gaps if g.lagged)
        assert {g.topic for g in seen.gaps if g.lagged} <= lagged_topics


async def test_tokens(server: Server) -> None:
    url = await server.start("--subscribe-token", "s3cret")
    for token in ("wrong", None):
        with pytest.raises(tickcast.HandshakeRejected) as refused:
            async with asyncio.timeout(10):
                async with tickcast.connect(url, token=token):
                    pass
        assert refused.value.status == 401
        assert "HTTP 401" in str(refused.value) and "token" in str(refused.value)
    async with tickcast.connect(url, token="s3cret") as feed:
        seen = Seen()
        await read_until(feed.subscribe("ticks.SYN0002"), seen, lambda: len(seen.items) >= 3)
        assert isinstance(seen.items[0], Snapshot)


async def test_publish(server: Server) -> None:
    url = await server.start("--publish-token", "pub")
    async with tickcast.connect(url) as reader, tickcast.connect(url, token="pub") as pub:
        sub = reader.subscribe("fx.*")
        await acked(sub)
        ack = await pub.publish("fx.EURUSD", 1.08, 1000, bid=1.0799, ask=1.0801)
        assert ack.op == "publish" and ack.topics == ["fx.EURUSD"]
        await pub.publish("fx.EURUSD", 1.09, 500)
        seen = Seen()
        await read_until(sub, seen, lambda: len(seen.items) >= 2, timeout=5)
        first, second = seen.items
        assert isinstance(first, Snapshot) and (first.seq, first.price, first.bid) == (1, 1.08, 1.0799)
        assert isinstance(second, Tick) and (second.seq, second.price, second.bid) == (2, 1.09, 1.09)
        with pytest.raises(tickcast.PublishError) as bad:
            await pub.publish("fx.EURUSD", 0.0, 1)
        assert bad.value.code == "bad_request"
        with pytest.raises(tickcast.PublishError) as forbidden:
            await reader.publish("fx.EURUSD", 1.0, 1)
        assert forbidden.value.code == "forbidden" and "publish token" in str(forbidden.value)


async def test_token_expiry_ends_the_stream_with_4001(server: Server) -> None:
    url = await server.start("--jwt-secret", "k")
    token = jwt("k", {"exp": int(time.time()) + 2})
    async with tickcast.connect(url, token=token) as feed:
        seen = Seen()
        with pytest.raises(tickcast.ClosedByServer) as closed:
            await read_until(feed.subscribe("ticks.*"), seen, lambda: False, timeout=10)
        assert closed.value.code == 4001
        assert "new token" in str(closed.value)
        assert seen.count  # it did get ticks before expiry


async def test_bad_subscribe_ends_that_subscription(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        with pytest.raises(tickcast.SubscribeError) as refused:
            async with asyncio.timeout(5):
                async for _ in feed.subscribe("ticks..AAPL"):
                    pass
        assert refused.value.code == "bad_topic"


async def test_since_resumes_a_later_feed(server: Server) -> None:
    url = await server.start()
    async with tickcast.connect(url) as feed:
        seen = Seen()
        await read_until(
            feed.subscribe("ticks.*"), seen, lambda: all(seen.count[f"ticks.{s}"] >= 3 for s in SYMBOLS)
        )
        positions = feed.positions
    async with tickcast.connect(url) as feed:
        later = Seen()
        later.last = dict(positions)  # continuity is checked from the old positions on
        await read_until(
            feed.subscribe("ticks.*", since=positions),
            later,
            lambda: all(later.count[f"ticks.{s}"] >= 3 for s in SYMBOLS),
        )
        assert later.gaps == []
        assert not any(isinstance(i, Snapshot) for i in later.items)


async def test_wss_with_a_private_ca(server: Server, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        # scripts/test-python-client.sh installs openssl and sets TICKCAST_REQUIRE_OPENSSL.
        if os.environ.get("TICKCAST_REQUIRE_OPENSSL"):
            pytest.fail("openssl is required (TICKCAST_REQUIRE_OPENSSL is set) but not on PATH")
        pytest.skip("openssl is not installed (set TICKCAST_REQUIRE_OPENSSL to make this a failure)")
    ca_key, ca, key, csr, cert = (str(tmp_path / n) for n in ("ca.key", "ca.pem", "k.pem", "c.csr", "c.pem"))
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for cmd in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "1", "-subj", "/CN=tickcast test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "1", "-extfile", str(ext)],
    ):
        proc = await asyncio.create_subprocess_exec(
            "openssl", *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
    url = await server.start("--tls-cert", cert, "--tls-key", key)
    assert url.startswith("wss://")
    feed = await tickcast.connect(url, ca_file=ca)
    try:
        seen = Seen()
        await read_until(feed.subscribe("ticks.SYN0003"), seen, lambda: len(seen.items) >= 3)
        assert isinstance(seen.items[0], Snapshot)
        # GET /history over https:// with the same CA.
        history = await feed.history("ticks.SYN0003", limit=2)
        assert len(history.messages) == 2 and history.epoch == seen.items[0].epoch
    finally:
        await feed.close()
    with pytest.raises(tickcast.ConnectionLost, match="CERTIFICATE_VERIFY_FAILED"):
        await tickcast.connect(url).history("ticks.SYN0003")  # without the CA: not trusted
