"""The entry point: `connect`, which makes a `Feed` from a URL and the connection options.
`Feed` (the reconnecting connection, in `tickcast.feed`) and `Subscription` (one
subscription's iterator, in `tickcast.subscription`) are re-exported here too.

    async with tickcast.connect("ws://127.0.0.1:8080/ws") as feed:
        async for msg in feed.subscribe("ticks.AAPL", "bars.1m.*"):
            print(msg.type, msg.topic, msg.seq)
"""

from __future__ import annotations

import ssl as ssl_module

from .feed import Feed
from .subscription import Subscription

__all__ = ["Feed", "Subscription", "connect"]


def connect(
    url: str,
    *,
    token: str | None = None,
    ca_file: str | None = None,
    ssl: ssl_module.SSLContext | None = None,
    buffer: int = 1024,
    open_timeout: float = 10.0,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
) -> Feed:
    """A `Feed` on the tickcast server at `url` (``ws://HOST:PORT/ws`` or ``wss://...``).
    Use ``async with connect(url) as feed`` or ``feed = await connect(url)``.

    - `token`: the access token, sent as ``Authorization: Bearer TOKEN``.
    - `ca_file`: a PEM file of CA certificates to trust for ``wss://`` (e.g. a private CA);
      `ssl`: a complete `ssl.SSLContext` instead.
    - `buffer`: items held per subscription for a slow reader (then the feed stops reading
      and the server conflates, announcing it).
    - `open_timeout`: seconds for the TCP, TLS and WebSocket handshakes and the `welcome`.
    - `backoff_initial`, `backoff_max`: reconnect delays in seconds, doubling, each times
      ``random.uniform(0.5, 1.5)`` (PROTOCOL.md section 14).
    """
    return Feed(
        url,
        token=token,
        ca_file=ca_file,
        ssl=ssl,
        buffer=buffer,
        open_timeout=open_timeout,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
    )
