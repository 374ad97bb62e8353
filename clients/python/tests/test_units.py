"""Unit tests: verdicts (a rewind window among them), resume pieces, topic matching, backoff,
decoding, close codes, option checks, and the history request's URL and times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgpack
import pytest

import tickcast
from tickcast.codes import advice, explain_close, explain_http
from tickcast.history import history_url, to_ns
from tickcast.messages import DecodeError, decode
from tickcast.recovery import Backoff, Duplicate, Gap, InOrder, Positions, matches, pieces


def test_consecutive_seqs_are_in_order() -> None:
    p = Positions()
    assert p.on_seq("ticks.A", 1, 5) == InOrder()
    assert p.on_seq("ticks.A", 1, 6) == InOrder()
    assert p.get("ticks.A") == (1, 6)


def test_duplicates_are_dropped_and_do_not_move_the_position() -> None:
    p = Positions({"ticks.A": (1, 6)})
    assert p.on_seq("ticks.A", 1, 6) == Duplicate()
    assert p.on_seq("ticks.A", 1, 3) == Duplicate()
    assert p.get("ticks.A") == (1, 6)


def test_a_jump_is_a_gap_and_advances() -> None:
    p = Positions({"ticks.A": (1, 6)})
    assert p.on_seq("ticks.A", 1, 9) == Gap(7, 9, "seq_jump")
    assert p.get("ticks.A") == (1, 9)


def test_a_jump_after_lagged_says_so_once() -> None:
    p = Positions({"ticks.A": (1, 6)})
    p.lagged(["ticks.A"])
    assert p.on_seq("ticks.A", 1, 20) == Gap(7, 20, "seq_jump", lagged=True)
    assert p.on_seq("ticks.A", 1, 25) == Gap(21, 25, "seq_jump", lagged=False)


def test_a_new_epoch_is_one_gap_whatever_recovered_says() -> None:
    p = Positions({"ticks.A": (1, 600)})
    assert p.on_snapshot("ticks.A", 2, 7, False) == Gap(None, 7, "new_epoch", previous_epoch=1)
    assert p.on_seq("ticks.A", 2, 8) == InOrder()


def test_not_recovered_is_a_gap_even_without_a_jump() -> None:
    p = Positions({"ticks.A": (1, 10)})
    assert p.on_snapshot("ticks.A", 1, 50, False) == Gap(11, 50, "not_recovered")
    q = Positions({"ticks.A": (1, 10)})
    assert q.on_snapshot("ticks.A", 1, 11, False) == Gap(11, 11, "not_recovered")
    # A position ahead of the server: its state wins, announced.
    r = Positions({"ticks.A": (1, 90)})
    assert r.on_snapshot("ticks.A", 1, 50, False) == Gap(None, 50, "not_recovered")
    assert r.get("ticks.A") == (1, 50)


def test_a_plain_snapshot_is_never_dropped() -> None:
    p = Positions({"ticks.A": (1, 10)})
    assert p.on_snapshot("ticks.A", 1, 10, None) == InOrder()
    assert p.on_snapshot("ticks.A", 1, 12, None) == Gap(11, 12, "seq_jump")


def test_since_filters_by_pattern() -> None:
    p = Positions({"ticks.A": (1, 1), "bars.1s.A": (1, 2), "fx.EUR": (1, 3)})
    assert p.since(["ticks.*", "bars.>"]) == {"ticks.A": (1, 1), "bars.1s.A": (1, 2)}


def test_pieces_hold_at_most_1000_topics_and_fit_the_size() -> None:
    positions = {f"ticks.S{i:05}": (1_764_072_000_123_456, i) for i in range(2500)}
    parts = pieces(positions, 65536, 1000)
    assert [len(x) for x in parts] == [1000, 1000, 500]
    merged: dict[str, tuple[int, int]] = {}
    for part in parts:
        merged.update(part)
        assert len(msgpack.packb({"type": "resume", "id": 1 << 40, "since": part})) < 65536
    assert merged == positions
    small = pieces(positions, 4096, 1000)
    assert all(len(msgpack.packb({"type": "resume", "id": 9, "since": x})) <= 4096 for x in small)


@pytest.mark.parametrize(
    ("pattern", "topic", "want"),
    [
        ("ticks.AAPL", "ticks.AAPL", True),
        ("ticks.AAPL", "ticks.AAPLX", False),
        ("ticks.*", "ticks.BRK-B", True),
        ("ticks.*", "ticks.AAPL.x", False),
        ("ticks.*", "ticks", False),
        ("bars.*.AAPL", "bars.1m.AAPL", True),
        ("bars.>", "bars.1s.AAPL", True),
        ("bars.>", "bars", False),
        (">", "x", True),
        ("*.>", "x", False),
    ],
)
def test_matches(pattern: str, topic: str, want: bool) -> None:
    assert matches(pattern, topic) is want


def test_backoff_doubles_to_30s_with_jitter() -> None:
    b = Backoff()
    delays = [b.next() for _ in range(10)]
    bases = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(0.5 * base <= d <= 1.5 * base for d, base in zip(delays, bases))
    b.reset()
    assert 0.25 <= b.next() <= 0.75


def test_close_code_advice() -> None:
    for code in (1002, 1003, 1007, 1009, 4000, 4001, 4099):
        assert advice(code) == "stop", code
    for code in (1000, 1001, 1006, 1008, 1011, 1013, 4100, 4199, 3000):
        assert advice(code) == "backoff", code
    assert advice(4200) == "now" and advice(4299) == "now"
    assert "new token" in explain_close(4001, "token expired")
    assert "token" in explain_http(401, "invalid token")


def test_decode_ignores_unknown_keys_and_types() -> None:
    tick = decode(
        {"type": "tick", "topic": "ticks.A", "seq": 1, "ts": 2, "symbol": "A", "price": 1.5,
         "size": 3, "bid": 1.4, "ask": 1.6, "volume": 9, "future_field": [1]}
    )
    assert isinstance(tick, tickcast.Tick) and tick.seq == 1 and tick.type == "tick"
    assert decode({"type": "orderbook", "x": 1}) is None
    with pytest.raises(DecodeError):
        decode({"type": "tick", "topic": "ticks.A"})
    with pytest.raises(DecodeError):
        decode([1, 2])
    lagged = decode({"type": "lagged", "topics": ["ticks.A"], "dropped": 4})
    assert isinstance(lagged, tickcast.Lagged) and lagged.topic is None and lagged.seq is None


def test_gap_reads_like_a_message() -> None:
    g = tickcast.Gap("ticks.A", 1, 7, 9, "seq_jump")
    assert (g.type, g.topic, g.seq, g.missed) == ("gap", "ticks.A", 9, 2)


def test_a_rewind_window_is_in_order_from_its_snapshot() -> None:
    p = Positions()
    assert p.on_snapshot("ticks.A", 1, 21, None) == InOrder()  # the oldest of the window
    assert [p.on_seq("ticks.A", 1, s) for s in range(22, 40)] == [InOrder()] * 18
    assert p.get("ticks.A") == (1, 39)
    assert p.on_seq("bars.1s.A", 1, 500) == InOrder()  # a bar window starts with a bar
    assert p.on_seq("bars.1s.A", 1, 501) == InOrder()


def test_a_failed_resume_window_is_one_gap_then_in_order() -> None:
    p = Positions({"ticks.A": (1, 600), "bars.1s.A": (1, 70), "ticks.B": (2, 10)})
    assert p.on_snapshot("ticks.A", 2, 400, False) == Gap(None, 400, "new_epoch", previous_epoch=1)
    assert p.on_seq("ticks.A", 2, 401) == InOrder()
    assert p.on_snapshot("bars.1s.A", 2, 30, False) == Gap(None, 30, "new_epoch", previous_epoch=1)
    assert p.on_seq("bars.1s.A", 2, 31) == InOrder()
    # Same epoch, the missed messages did not fit: the window starts after a hole.
    assert p.on_snapshot("ticks.B", 2, 900, False) == Gap(11, 900, "not_recovered")
    assert p.on_seq("ticks.B", 2, 901) == InOrder()


def test_forget_drops_topics_nobody_follows() -> None:
    p = Positions({"ticks.A": (1, 5), "ticks.B": (1, 6)})
    p.lagged(["ticks.A"])
    p.forget(lambda t: t == "ticks.B")
    assert p.get("ticks.A") is None and p.get("ticks.B") == (1, 6)
    assert p.on_snapshot("ticks.A", 1, 50, None) == InOrder()


@pytest.mark.parametrize("rewind", [-1, True, 1 << 32, 2.5, "10"])
def test_rewind_must_be_a_count(rewind: object) -> None:
    feed = tickcast.connect("ws://127.0.0.1:1/ws")  # never connected
    with pytest.raises(ValueError):
        feed.subscribe("ticks.*", rewind=rewind)  # type: ignore[arg-type]
    feed.subscribe("ticks.*", rewind=0)  # 0: no rewind
    sub = feed.subscribe("bars.>", rewind=(1 << 32) - 1)
    assert sub._options == {"rewind": (1 << 32) - 1}


def test_history_urls() -> None:
    assert history_url("ws://h:8080/ws", "ticks.A", {}) == "http://h:8080/history/ticks.A"
    assert (
        history_url("wss://h/feed/ws?token=t%20x&other=1", "bars.1m.BRK-B", {"limit": "5"})
        == "https://h/feed/history/bars.1m.BRK-B?token=t+x&limit=5"
    )
    assert history_url("ws://h", "ticks.*", {}) == "http://h/history/ticks.%2A"
    with pytest.raises(ValueError):
        history_url("ftp://h/ws", "ticks.A", {})


def test_times_are_datetimes_with_a_zone_or_nanoseconds() -> None:
    at = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert to_ns(at, "start") == 1_796_292_000_123_456_000
    paris = at.astimezone(timezone(timedelta(hours=1)))
    assert to_ns(paris, "start") == to_ns(at, "start")
    assert to_ns(1_796_292_000_123_456_789, "end") == 1_796_292_000_123_456_789
    with pytest.raises(ValueError, match="naive"):
        to_ns(datetime(2026, 12, 3), "start")
    with pytest.raises(ValueError):
        to_ns(-1, "start")
    with pytest.raises(TypeError):
        to_ns(1.5, "start")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_ns(True, "start")
