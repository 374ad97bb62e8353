"""Exceptions raised by the tickcast client. All derive from `TickcastError`."""

from __future__ import annotations

from .codes import explain_close, explain_http
from .messages import RequestId

__all__ = [
    "ClosedByServer",
    "ConnectionLost",
    "HandshakeRejected",
    "HistoryError",
    "PublishError",
    "RequestError",
    "SubscribeError",
    "TickcastError",
]


class TickcastError(Exception):
    """Base class of every error this package raises."""


class HandshakeRejected(TickcastError):
    """The server answered the WebSocket upgrade with a final HTTP status (400, 401, 403,
    405, 426): retrying as is cannot help. `status` and `body` are the server's answer."""

    def __init__(self, status: int, body: str = "") -> None:
        self.status = status
        self.body = body
        super().__init__(f"connection refused with {explain_http(status, body)}")


class ClosedByServer(TickcastError):
    """The server closed the connection with a final close code (1002, 1003, 1007, 1009,
    4000-4099, e.g. 4001 token expired): reconnecting would fail the same way."""

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"not reconnecting after {explain_close(code, reason)}")


class RequestError(TickcastError):
    """The server answered a request with `error` (PROTOCOL.md section 11)."""

    def __init__(self, op: str, code: str, message: str, id: RequestId | None = None) -> None:
        self.op = op
        self.code = code
        self.message = message
        self.id = id
        hint = _HINTS.get(code, "")
        super().__init__(f"{op} refused: {code}: {message}{hint}")


class SubscribeError(RequestError):
    """A `subscribe` was refused (``bad_topic``, ``forbidden``, ``too_many_subscriptions``,
    ``bad_request``): the subscription ends with it."""


class PublishError(RequestError):
    """A `publish` was refused (``forbidden``: no publisher token; ``bad_topic``;
    ``bad_request``: price, bid, ask or size out of range; ``rate_limited``)."""


class ConnectionLost(TickcastError):
    """The connection ended before the server answered a request (e.g. a `publish`: it may
    or may not have been published), or the feed was closed."""


class HistoryError(TickcastError):
    """``GET /history/{topic}`` was refused (PROTOCOL.md section 16). `status` is the HTTP
    status; `code` the JSON error's code: ``bad_topic`` (400: a pattern or a broken name),
    ``bad_request`` (400: a bad limit, start, end or format), ``unauthorized`` (401: no token
    or a wrong one where the server requires one), ``forbidden`` (403: the topic is outside
    the token's topics), ``unknown_topic`` (404: no such topic on this server); ``None``
    when the answer was not a tickcast error (e.g. a server without the endpoint, or a
    proxy's page); `message` the server's explanation."""

    def __init__(self, topic: str, status: int, code: str | None, message: str) -> None:
        self.topic = topic
        self.status = status
        self.code = code
        self.message = message
        hint = _HINTS.get(code, "") if code is not None else ""
        what = f"{code}: " if code is not None else ""
        super().__init__(f"history of {topic!r} refused with HTTP {status}: {what}{message}{hint}")


_HINTS = {
    "forbidden": " (the token does not allow this: publishing needs the server's publish "
    "token, or a signed token with publish: true and the topic in its scope; subscribing and "
    "history need the topic in the token's topics)",
    "unauthorized": " (the server requires a token: pass a valid token=...)",
    "unknown_topic": " (the server has no such topic: check its name; GET /topics lists them)",
    "bad_topic": " (topics are dot-separated tokens of letters, digits, _ and -; "
    "wildcards * and > only in subscribe patterns)",
    "too_many_subscriptions": " (unsubscribe some patterns, or use a wildcard)",
    "rate_limited": " (more than the server's --max-inbound-rate messages a second: "
    "send less, then resend)",
}
