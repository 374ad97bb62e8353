"""Unit tests: verdicts, resume pieces, topic matching, backoff, decoding, close codes."""

from __future__ import annotations

import msgpack
import pytest

import tickcast
from tickcast.codes import advice, explain_close, explain_http
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
