"""Close codes and HTTP answers: what a client does after each (PROTOCOL.md sections 2, 12).

`advice` classifies a WebSocket close code; `FINAL_HTTP_STATUSES` are the answers to the
upgrade after which retrying as is cannot help. `explain_close` and `explain_http` give a
one-line reason and what to do, for error messages.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "Advice",
    "FINAL_HTTP_STATUSES",
    "advice",
    "explain_close",
    "explain_http",
]

Advice = Literal["stop", "backoff", "now"]
"""``stop``: do not reconnect (it would fail the same way); ``backoff``: reconnect after the
backoff delay; ``now``: reconnect at once (the server moves clients elsewhere)."""

FINAL_HTTP_STATUSES = frozenset({400, 401, 403, 405, 426})
"""HTTP answers to the upgrade that end the stream: a fix or a new token is needed."""

_CLOSE_TEXT = {
    1000: "normal closure",
    1001: "the server is going away",
    1002: "protocol error: this client broke RFC 6455; report a bug in tickcast or websockets",
    1003: "unsupported data: the client sent a frame kind the server does not accept",
    1006: "the connection broke without a close frame",
    1007: "invalid payload: text that is not valid UTF-8",
    1008: "policy violation: a slow consumer or an inbound flood; send less, read faster",
    1009: "message too big: a message over welcome.max_message_bytes; send smaller ones",
    1011: "internal server error",
    1013: "the server is overloaded; try again later",
    4001: "token expired: get a new token and connect again with it",
    4100: "idle timeout: nothing arrived from this client for 3 x heartbeat_ms",
    4200: "rebalance: the server moves clients elsewhere",
}

_HTTP_TEXT = {
    400: "bad request (a malformed handshake or no supported subprotocol): fix the client; "
    "do not retry as is",
    401: "unauthorized: no token where the server requires one, or a wrong or expired one; "
    "pass a valid token=... (do not retry with the same one)",
    403: "forbidden origin: serve the page from the server's origin, or have the operator "
    "add it with --allowed-origin",
    405: "method not allowed: fix the client",
    426: "upgrade required (not a WebSocket upgrade, or a version other than 13): check the "
    "URL (ws://HOST:PORT/ws) and the client",
    503: "the server is at its connection limit; retrying with backoff",
}


def advice(code: int) -> Advice:
    """What to do after a close with `code` (1006 when the connection broke without one)."""
    if code in (1002, 1003, 1007, 1009) or 4000 <= code <= 4099:
        return "stop"
    if 4200 <= code <= 4299:
        return "now"
    return "backoff"


def explain_close(code: int, reason: str = "") -> str:
    """A one-line description of close `code`, with the server's `reason` if it gave one."""
    text = _CLOSE_TEXT.get(code)
    if text is None:
        if 4000 <= code <= 4099:
            text = "refused by the application: fix the client or its token before reconnecting"
        elif 4100 <= code <= 4199:
            text = "a transient condition on the server"
        elif 4200 <= code <= 4299:
            text = "the server moves clients elsewhere"
        else:
            text = "unknown close code"
    said = f" (server said: {reason})" if reason else ""
    return f"close {code}: {text}{said}"


def explain_http(status: int, body: str = "") -> str:
    """A one-line description of HTTP `status` answering the upgrade, with its body."""
    text = _HTTP_TEXT.get(status, "unexpected HTTP answer to the WebSocket upgrade")
    said = f" (server said: {body.strip()})" if body.strip() else ""
    return f"HTTP {status}: {text}{said}"
