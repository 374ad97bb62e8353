"""`Feed.history` (``GET /history/{topic}``) against the real tickcast-server: MessagePack and
JSON give the same typed messages, limits and time ranges, continuing live from a history
with ``since``, the error answers (400 ``bad_topic`` / ``bad_request``, 401, 403
``forbidden``, 404 ``unknown_topic``) and an unreachable server."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone

import pytest

import tickcast
from tickcast import Bar, Snapshot, Tick

from conftest import HISTORY, Server
from support import Seen, jwt, read_until


def at(ns: int) -> datetime:
    """A bar's `ts` (whole seconds) as an aware datetime."""
    assert ns % 1_000_000_000 == 0
    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc)


async def test_msgpack_and_json_give_the_same_typed_history(server: Server) -> None:
    url = await server.start(*HISTORY)
    feed = tickcast.connect(url)  # history needs no WebSocket connection
    for topic, kind in (("ticks.SYN0001", Tick), ("bars.1m.SYN0001", Bar)):
        as_json = await feed.history(topic, limit=50, format="json")
        end = as_json.messages[-1].ts + 1
        as_msgpack = await feed.history(topic, limit=50, end=end)  # msgpack: the default
        assert as_msgpack == as_json
        assert as_json.topic == topic and as_json.epoch > 0
        messages = as_json.messages
        assert all(type(m) is kind and m.epoch == as_json.epoch for m in messages)
        seqs = [m.seq for m in messages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert as_json.position == (as_json.epoch, seqs[-1])
    # 10 minutes of pre-roll: 50 ticks, and the minute bars of those minutes.
    assert len((await feed.history("ticks.SYN0001", limit=50)).messages) == 50
    bars = (await feed.history("bars.1m.SYN0001")).messages
    assert 9 <= len(bars) <= 11
    assert all(b.interval_ms == 60_000 and b.ts % 60_000_000_000 == 0 for b in bars)


async def test_ranges_and_limits(server: Server) -> None:
    url = await server.start(*HISTORY)
    feed = tickcast.connect(url)
    bars = (await feed.history("bars.1m.SYN0002")).messages
    assert len(bars) >= 8
    # start <= ts < end, as datetimes or nanoseconds; limit keeps the latest ones.
    middle = await feed.history("bars.1m.SYN0002", start=at(bars[3].ts), end=at(bars[6].ts))
    assert middle.messages == bars[3:6]
    by_ns = await feed.history("bars.1m.SYN0002", start=bars[3].ts, end=bars[6].ts, limit=2)
    assert by_ns.messages == bars[4:6]
    none = await feed.history("bars.1m.SYN0002", start=bars[-1].ts + 1, end=bars[-1].ts + 2)
    assert none.messages == [] and none.position is None and none.epoch == middle.epoch
    with pytest.raises(tickcast.HistoryError) as bad:
        await feed.history("bars.1m.SYN0002", start=bars[6].ts, end=bars[3].ts)
    assert (bad.value.status, bad.value.code) == (400, "bad_request")
    with pytest.raises(ValueError, match="naive"):
        await feed.history("bars.1m.SYN0002", start=datetime(2026, 1, 1))


async def test_history_then_live_with_since(server: Server) -> None:
    url = await server.start(*HISTORY)
    async with tickcast.connect(url) as feed:
        topic = "ticks.SYN0003"
        past = await feed.history(topic, limit=20)
        assert past.position is not None
        seen = Seen()
        seen.last = {topic: past.position}  # continuity is checked from the history on
        sub = feed.subscribe(topic, since={topic: past.position})
        await read_until(sub, seen, lambda: seen.count[topic] >= 20)
        assert seen.gaps == [] and not any(isinstance(i, Snapshot) for i in seen.items)
        first = seen.items[0]
        assert isinstance(first, Tick)
        assert (first.epoch, first.seq) == (past.epoch, past.position[1] + 1)


async def test_bad_and_unknown_topics(server: Server) -> None:
    url = await server.start(*HISTORY)
    feed = tickcast.connect(url)
    for topic, status, code in (
        ("ticks.*", 400, "bad_topic"),
        ("bars.>", 400, "bad_topic"),
        ("ticks..SYN0001", 400, "bad_topic"),
        ("ticks.NOPE", 404, "unknown_topic"),
    ):
        with pytest.raises(tickcast.HistoryError) as refused:
            await feed.history(topic)
        assert (refused.value.status, refused.value.code) == (status, code), topic
        assert refused.value.topic == topic and refused.value.message
        assert f"HTTP {status}: {code}" in str(refused.value)


async def test_a_server_that_requires_a_token(server: Server) -> None:
    url = await server.start(*HISTORY, "--subscribe-token", "s3cret")
    for token in (None, "wrong"):
        with pytest.raises(tickcast.HistoryError) as refused:
            await tickcast.connect(url, token=token).history("ticks.SYN0001")
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert "token" in str(refused.value)
    ok = await tickcast.connect(url, token="s3cret").history("ticks.SYN0001", limit=3)
    assert len(ok.messages) == 3
    # A token in the URL's query (as a browser would pass it) is used too.
    in_url = await tickcast.connect(f"{url}?token=s3cret").history("ticks.SYN0001", limit=3)
    assert in_url.topic == "ticks.SYN0001"


async def test_a_signed_token_limits_history_to_its_topics(server: Server) -> None:
    url = await server.start(*HISTORY, "--jwt-secret", "k")
    token = jwt("k", {"exp": int(time.time()) + 600, "topics": ["ticks.SYN0001", "bars.*.SYN0001"]})
    feed = tickcast.connect(url, token=token)
    assert (await feed.history("ticks.SYN0001", limit=1)).messages
    assert (await feed.history("bars.5m.SYN0001", limit=1)).topic == "bars.5m.SYN0001"
    for topic in ("ticks.SYN0002", "bars.1m.SYN0002"):
        with pytest.raises(tickcast.HistoryError) as refused:
            await feed.history(topic)
        assert (refused.value.status, refused.value.code) == (403, "forbidden"), topic
    with pytest.raises(tickcast.HistoryError) as anonymous:
        await tickcast.connect(url).history("ticks.SYN0001")
    assert anonymous.value.status == 401


async def test_no_server_is_connection_lost() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(tickcast.ConnectionLost):
        await tickcast.connect(f"ws://127.0.0.1:{port}/ws").history("ticks.A", timeout=5)
