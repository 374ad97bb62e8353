"""Test support: checking a subscription's stream as it arrives (`Seen`, `read_until`), the
synthetic symbols of ``--symbols 5``, and signed tokens (`jwt`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Callable

import tickcast
from tickcast import Gap, Item, Lagged

SYMBOLS = [f"SYN000{i}" for i in range(5)]  # what --symbols 5 makes


class Seen:
    """Everything a subscription yielded, checked as it arrives: per topic, no seq twice
    in an epoch and no jump without a `Gap` item just before it."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.gaps: list[Gap] = []
        self.lagged: list[Lagged] = []
        self.last: dict[str, tuple[int, int]] = {}
        self.count: dict[str, int] = defaultdict(int)
        self._gap_pending: dict[str, Gap] = {}

    def add(self, item: Item) -> None:
        self.items.append(item)
        if isinstance(item, Gap):
            self.gaps.append(item)
            self._gap_pending[item.topic] = item
            return
        if isinstance(item, Lagged):
            self.lagged.append(item)
            return
        if item.seq is None:
            return
        epoch = getattr(item, "epoch", 0)
        last = self.last.get(item.topic)
        gap = self._gap_pending.pop(item.topic, None)
        if last is not None and last[0] == epoch:
            assert item.seq > last[1], f"duplicate {item.topic} {item.seq} after {last}"
            if item.seq != last[1] + 1:
                assert gap is not None, f"silent jump {item.topic} {last} -> {item.seq}"
        elif last is not None:
            assert gap is not None and gap.cause in ("new_epoch",), f"silent new epoch {item}"
        if gap is not None:
            assert gap.received == item.seq
        self.last[item.topic] = (epoch, item.seq)
        self.count[item.topic] += 1


async def read_until(
    sub: tickcast.Subscription, seen: Seen, done: Callable[[], bool], timeout: float = 20
) -> None:
    async def run() -> None:
        async for item in sub:
            seen.add(item)
            if done():
                return
        raise AssertionError("the subscription ended")

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(
            f"timed out; counts {dict(seen.count)}, gaps {seen.gaps[:5]}, "
            f"lagged {seen.lagged[:3]}"
        ) from None


def jwt(secret: str, claims: dict[str, object]) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"
