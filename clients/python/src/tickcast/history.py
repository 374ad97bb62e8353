"""What a topic keeps, over HTTP: ``GET /history/{topic}`` (PROTOCOL.md section 16), as
typed messages. `Feed.history` is the way in; this module builds the request (the feed's
URL, token and TLS context), sends it and decodes the answer into a `History`, or raises
`HistoryError` with the server's JSON error code and the HTTP status.

The request goes through the standard library (`urllib.request`, run in a worker thread
with `asyncio.to_thread`) rather than an HTTP client dependency: it is one short GET per
call, which `urllib` does completely (HTTP/1.1, chunked bodies, TLS with the feed's
`ssl.SSLContext`), while `websockets` has no plain-HTTP client and `aiohttp` or `httpx`
would add a large dependency for this one request. A hand-written client on asyncio
streams would have to redo chunked decoding and error paths that `urllib` already has.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import msgpack

from .errors import ConnectionLost, HistoryError
from .messages import Bar, DecodeError, Tick, decode
from .recovery import Position
from .transport import Endpoint

__all__ = ["History", "HistoryFormat", "Time", "fetch", "history_url", "to_ns"]

HistoryFormat = Literal["msgpack", "json"]
"""How the answer travels: MessagePack (the default, asked for with ``Accept``) or JSON.
Both decode to the same `History`."""

Time = datetime | int
"""A point in time: an aware `datetime` (a naive one is refused: its zone would be a
guess), or integer nanoseconds since the UNIX epoch (a message's ``ts``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class History:
    """The answer of `Feed.history`: the latest messages of `topic` in the range asked
    for, oldest first."""

    topic: str
    epoch: int
    """The topic's epoch: the same as its messages' on a WebSocket (``Tick.epoch`` is
    filled in with it, as the stream does)."""
    messages: list[Tick | Bar]
    """`Tick` items for a trades topic, `Bar` items for ``bars.*.SYM``; ``seq`` ascending."""

    @property
    def position(self) -> Position | None:
        """``(epoch, seq)`` of the last message, ``None`` when there is none. Pass it as
        ``since={topic: history.position}`` to `Feed.subscribe` to continue live from the
        message after it: replayed with no hole, or a `Gap` saying it could not be."""
        if not self.messages:
            return None
        return (self.epoch, self.messages[-1].seq)


def to_ns(when: Time, name: str) -> int:
    """`when` as integer nanoseconds since the UNIX epoch (`name` is for the error)."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(
                f"{name}: a naive datetime is ambiguous; give it a timezone "
                "(e.g. datetime.now(timezone.utc))"
            )
        delta = when - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    elif isinstance(when, int) and not isinstance(when, bool):
        ns = when
    else:
        raise TypeError(f"{name}: a datetime or integer nanoseconds, not {when!r}")
    if ns < 0:
        raise ValueError(f"{name}: before 1970 ({when!r})")
    return ns


def history_url(ws_url: str, topic: str, query: dict[str, str]) -> str:
    """The ``/history/{topic}`` URL beside the WebSocket URL `ws_url` (``ws://H/ws`` gives
    ``http://H/history/TOPIC``; ``wss://`` gives ``https://``), with `query`. A ``token``
    in `ws_url`'s query is kept; its other parameters are the WebSocket's, not carried."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https"):
        raise ValueError(f"not a tickcast URL: {ws_url!r}")
    path = parts.path
    if path.endswith("/ws"):
        path = path[: -len("ws")]
    elif not path.endswith("/"):
        path += "/"
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k == "token"]
    pairs += list(query.items())
    return urllib.parse.urlunsplit(
        (
            scheme,
            parts.netloc,
            path + "history/" + urllib.parse.quote(topic, safe=""),
            urllib.parse.urlencode(pairs),
            "",
        )
    )


async def fetch(
    endpoint: Endpoint,
    topic: str,
    *,
    limit: int | None = None,
    start: Time | None = None,
    end: Time | None = None,
    format: HistoryFormat = "msgpack",
    timeout: float = 10.0,
) -> History:
    """``GET /history/{topic}`` on the server of `endpoint`: see `Feed.history`."""
    query: dict[str, str] = {}
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit: a positive integer, not {limit!r}")
        query["limit"] = str(limit)
    if start is not None:
        query["from"] = str(to_ns(start, "start"))
    if end is not None:
        query["to"] = str(to_ns(end, "end"))
    if format not in ("msgpack", "json"):
        raise ValueError(f"format: 'msgpack' or 'json', not {format!r}")
    url = history_url(endpoint.url, topic, query)
    headers = {"Accept": f"application/{format}"}
    if endpoint.token:
        headers["Authorization"] = f"Bearer {endpoint.token}"
    try:
        status, kind, body = await asyncio.wait_for(
            asyncio.to_thread(_get, url, headers, endpoint, timeout), timeout
        )
    except (asyncio.TimeoutError, TimeoutError):
        raise
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise TimeoutError(f"GET /history/{topic}: no answer in {timeout} s") from e
        raise ConnectionLost(f"GET /history/{topic} failed: {e.reason}") from e
    except OSError as e:  # refused, TLS, reset: nothing answered
        raise ConnectionLost(f"GET /history/{topic} failed: {e}") from e
    if status != 200:
        raise _refusal(topic, status, body)
    try:
        return _history(kind, body)
    except (ValueError, TypeError, KeyError, DecodeError) as e:
        raise HistoryError(topic, status, None, f"an answer this client cannot read: {e}") from e


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """tickcast never redirects: a 3xx is reported, not followed (following would send the
    token to wherever it points)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(
    url: str, headers: dict[str, str], endpoint: Endpoint, timeout: float
) -> tuple[int, str, bytes]:
    """Status, content type and body of one GET (run in a worker thread)."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),  # direct, like the feed's WebSocket
        urllib.request.HTTPSHandler(context=endpoint.ssl),
        _NoRedirects(),
    )
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with opener.open(request, timeout=timeout) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get_content_type(), e.read()


def _history(kind: str, body: bytes) -> History:
    raw = msgpack.unpackb(body) if kind == "application/msgpack" else json.loads(body)
    if not isinstance(raw, dict) or not isinstance(raw.get("messages"), list):
        raise ValueError(f"not a history: {raw!r:.200}")
    topic, epoch = str(raw["topic"]), int(raw["epoch"])
    messages: list[Tick | Bar] = []
    for item in raw["messages"]:
        if isinstance(item, dict) and item.get("type") == "tick":
            item = {**item, "epoch": epoch}  # ticks carry none on the wire
        msg = decode(item)
        if isinstance(msg, Tick | Bar):
            messages.append(msg)
    return History(topic, epoch, messages)


def _refusal(topic: str, status: int, body: bytes) -> HistoryError:
    text = body.decode(errors="replace").strip()
    try:
        err = json.loads(text)
    except ValueError:
        err = None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        return HistoryError(topic, status, err["code"], str(err.get("message", "")))
    return HistoryError(topic, status, None, text[:300] or "(no body)")
