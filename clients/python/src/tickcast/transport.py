"""One connection attempt to a tickcast server: the WebSocket options (subprotocol, timeouts,
the ``Authorization`` header, the TLS context for ``wss://``), reading the `welcome`, decoding
frames, and judging how an attempt or a connection ended: a final refusal (HTTP 400, 401, 403,
405, 426; close codes that say stop; a bad URL) or something to retry, and how soon.
The `Feed` decides what to do with the verdict; this module keeps no state between attempts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgpack
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from .codes import FINAL_HTTP_STATUSES, advice, explain_close, explain_http
from .errors import ClosedByServer, HandshakeRejected, TickcastError
from .messages import DecodeError, Welcome, decode

__all__ = [
    "FAILURES",
    "SUBPROTOCOL",
    "Endpoint",
    "Verdict",
    "judge",
    "read_welcome",
    "tls_context",
    "unpack",
]

log = logging.getLogger("tickcast")

SUBPROTOCOL = "tickcast.v1.msgpack"

FAILURES: tuple[type[BaseException], ...] = (
    InvalidStatus,
    ConnectionClosed,
    InvalidURI,
    OSError,
    asyncio.TimeoutError,
    InvalidHandshake,
    EOFError,
)
"""What a connection attempt, or an open connection, can end with; `judge` says what each
means."""


def tls_context(
    ca_file: str | None, ssl: ssl_module.SSLContext | None
) -> ssl_module.SSLContext | None:
    """The TLS context for ``wss://``: one trusting `ca_file` when given, else `ssl` (``None``:
    the default context of `websockets`)."""
    if ca_file is not None:
        return ssl_module.create_default_context(cafile=ca_file)
    return ssl


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect: the same for every attempt of a feed."""

    url: str
    token: str | None
    ssl: ssl_module.SSLContext | None
    open_timeout: float

    def open(self) -> ws_connect:
        """One connection attempt, to use as ``async with endpoint.open() as ws``."""
        return ws_connect(self.url, **self.options())

    def options(self) -> dict[str, Any]:
        """The keyword arguments of `websockets.asyncio.client.connect`."""
        options: dict[str, Any] = {
            "subprotocols": [SUBPROTOCOL],
            "open_timeout": self.open_timeout,
            "close_timeout": 1.0,
            "ping_interval": None,  # the server pings; liveness is its heartbeats
        }
        if self.token:
            options["additional_headers"] = {"Authorization": f"Bearer {self.token}"}
        if self.ssl is not None and self.url.startswith("wss:"):
            options["ssl"] = self.ssl
        return options


async def read_welcome(ws: ClientConnection, timeout: float) -> Welcome:
    """The connection's first message, which must be a `welcome` (raises `EOFError` if not,
    `asyncio.TimeoutError` after `timeout` seconds)."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    welcome = decode(unpack(raw))
    if not isinstance(welcome, Welcome):
        raise EOFError(f"the first message was not a welcome: {welcome!r:.200}")
    return welcome


def unpack(data: bytes | str) -> dict[str, Any]:
    """One frame as a map; raises `DecodeError` for anything else."""
    if isinstance(data, str):
        raise DecodeError("a text frame on a MessagePack connection")
    try:
        msg = msgpack.unpackb(data)
    except Exception as e:
        raise DecodeError(f"not MessagePack: {e}") from None
    if not isinstance(msg, dict):
        raise DecodeError(f"not a map: {msg!r:.100}")
    return msg


class Verdict(NamedTuple):
    """How a connection ended, for the feed."""

    final: TickcastError | None
    """The error to end the feed with, or ``None`` to reconnect."""
    delay: float | None
    """Seconds before reconnecting (``0.0``: at once), or ``None`` for the next backoff."""


def judge(error: BaseException, url: str) -> Verdict:
    """The verdict on `error`, one of `FAILURES`, from connecting to or reading from `url`;
    logs what was retried."""
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        body = error.response.body.decode(errors="replace") if error.response.body else ""
        if status in FINAL_HTTP_STATUSES:
            return Verdict(HandshakeRejected(status, body), None)
        log.warning("tickcast: %s", explain_http(status, body))
        return Verdict(None, None)
    if isinstance(error, ConnectionClosed):
        code, reason = (error.rcvd.code, error.rcvd.reason) if error.rcvd else (1006, "")
        what = advice(code)
        if what == "stop":
            return Verdict(ClosedByServer(code, reason), None)
        log.info("tickcast: %s", explain_close(code, reason))
        return Verdict(None, 0.0 if what == "now" else None)
    if isinstance(error, InvalidURI):
        return Verdict(TickcastError(f"invalid URL {url!r}: {error}"), None)
    log.info("tickcast: connecting to %s failed: %r", url, error)
    return Verdict(None, None)
