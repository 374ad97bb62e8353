"""tickcast: subscribe to a tickcast server from Python, and lose nothing silently.

    import asyncio, tickcast

    async def main():
        async with tickcast.connect("ws://127.0.0.1:8080/ws") as feed:
            async for msg in feed.subscribe("ticks.AAPL", "bars.1m.*"):
                print(msg.type, msg.topic, msg.seq)

    asyncio.run(main())

`connect` gives a `Feed`: one WebSocket (MessagePack, protocol v1) that reconnects with
backoff and jitter, hands every topic's ``(epoch, seq)`` over before subscribing again (so the
server replays what was missed), watches the server's heartbeats, and drops duplicates.
`Feed.subscribe` gives a `Subscription` yielding typed messages (`Tick`, `Snapshot`, `Bar`,
`Book`, `BookUpdate`, `Status`, `Lagged`) and a `Gap` item before any message that follows a
loss: every topic's messages arrive exactly once, in order, or with an announced gap.
Order books (``book.SYM``, ``subscribe(..., depth=N)``) are kept by the client as an
`OrderBook` per topic (`Subscription.book`), every update verified by its checksum; a wrong
book is resynchronized by itself, announced by a `Gap`. Final refusals end the
stream with an exception (`HandshakeRejected`, `ClosedByServer`, `SubscribeError`).
``subscribe(..., rewind=N)`` starts each topic with its latest N messages (history, then live,
no seam); `Feed.history` fetches a topic's history over HTTP as a `History` of the same
message classes (or raises `HistoryError`).

Modules: `tickcast.client` (`connect`), `tickcast.feed` (the reconnecting `Feed`),
`tickcast.routing` (the subscriptions, where each message goes, the subscribe messages),
`tickcast.resync` (a wrong order book asked for again), `tickcast.subscription` (a
`Subscription`'s iterator and buffer), `tickcast.transport` (one connection attempt, and how
it ended), `tickcast.pending` (requests awaiting answers),
`tickcast.history` (``GET /history``), `tickcast.messages` (message classes),
`tickcast.book` (`OrderBook`, the checksum, the verdict on book messages),
`tickcast.recovery` (positions and verdicts), `tickcast.codes` (close codes),
`tickcast.errors` (exceptions).
"""

from .book import OrderBook
from .client import connect
from .codes import advice, explain_close, explain_http
from .errors import (
    ClosedByServer,
    ConnectionLost,
    HandshakeRejected,
    HistoryError,
    PublishError,
    RequestError,
    SubscribeError,
    TickcastError,
)
from .feed import Feed
from .history import History, HistoryFormat, Time
from .messages import (
    Ack,
    Bar,
    Book,
    BookUpdate,
    Error,
    Gap,
    GapCause,
    Heartbeat,
    Item,
    Lagged,
    Level,
    Pong,
    ServerMessage,
    Shutdown,
    Snapshot,
    Status,
    Tick,
    Topics,
    Welcome,
)
from .recovery import Position
from .subscription import Subscription

__version__ = "0.1.0"

__all__ = [
    "Ack",
    "Bar",
    "Book",
    "BookUpdate",
    "ClosedByServer",
    "ConnectionLost",
    "Error",
    "Feed",
    "Gap",
    "GapCause",
    "HandshakeRejected",
    "Heartbeat",
    "History",
    "HistoryError",
    "HistoryFormat",
    "Item",
    "Lagged",
    "Level",
    "OrderBook",
    "Pong",
    "Position",
    "PublishError",
    "RequestError",
    "ServerMessage",
    "Shutdown",
    "Snapshot",
    "Status",
    "Subscription",
    "SubscribeError",
    "Tick",
    "TickcastError",
    "Time",
    "Topics",
    "Welcome",
    "advice",
    "connect",
    "explain_close",
    "explain_http",
]
