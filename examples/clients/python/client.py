#!/usr/bin/env python3
"""Minimal tickcast client: subscribes to topic patterns and prints every tick and book.

    python client.py [--url ws://127.0.0.1:8080/ws] [--token T] [--count N] [--rewind N] [--record FILE] PATTERN...

It tracks [epoch, seq] per topic, reports gaps, and after a reconnect hands its positions
over (`resume`, in pieces) before subscribing, so the server replays what was missed.
It keeps the order book of every book.SYM topic, verifies each update's checksum, prints
`book SYM bid@size ask@size`, and on a mismatch or a missed update subscribes again.
--count N exits after N tick and book lines.
--rewind N starts each topic with its latest N messages (history, then live). Needs `pip install websockets msgpack`.
--record FILE appends one JSON line per tick, snapshot and bar ({"topic","epoch","seq","type"})
and one per gap the server announced ({"type":"gap","topic","epoch","reason"}).
"""

import argparse
import asyncio
import json
import random
import sys
import zlib

import msgpack
import websockets
from websockets.asyncio.client import connect  # websockets 13.1+


def give_up(code):
    """Close codes after which reconnecting would fail the same way (4001: token expired)."""
    return code in (1002, 1003, 1007, 1009) or 4000 <= code <= 4099


def checksum(book):
    """CRC-32 of the top 10 asks, "|", the top 10 bids, each level "price_ticks:size"."""

    def side(levels):
        return ",".join(f"{round(price / book['tick_size'])}:{size}" for price, size in levels[:10])

    return zlib.crc32(f"{side(book['asks'])}|{side(book['bids'])}".encode())


def apply(levels, changes, depth, bids):
    """A book side after an update's changes (size 0 removes), best first, `depth` levels."""
    side = dict(levels)  # price -> size (the server sends a level's price the same each time)
    for price, size in changes:
        if size:
            side[price] = size
        else:
            side.pop(price, None)
    return sorted(side.items(), reverse=bids)[:depth]


def best(levels):
    return f"{levels[0][0]}@{levels[0][1]}" if levels else "-"


async def follow(url, patterns, count, token=None, record=None, rewind=0):
    # close_timeout: a server presumed dead will not answer our close frame; don't wait 10 s.
    options = {"subprotocols": ["tickcast.v1.msgpack"], "close_timeout": 1}
    if token:  # (the legacy client, websockets.connect before 14.0, calls it extra_headers)
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    position = {}  # topic -> [epoch, seq] of the last tick or bar we have
    books = {}  # topic -> the book message, kept up to date by the updates
    printed, backoff, delay = 0, 0.5, 0.0

    def note(**fields):  # --record: one JSON line per message or announced gap
        if record:
            print(json.dumps(fields), file=record, flush=True)

    async def subscribe(ws):  # hand our positions over, then subscribe
        pending = list(position.items())  # in pieces that fit any message size limit
        for i in range(0, len(pending), 1000):
            piece = dict(pending[i : i + 1000])
            await ws.send(msgpack.packb({"type": "resume", "since": piece}))
        request = {"type": "subscribe", "id": 1, "topics": patterns}
        if rewind and not position:  # history first, on the first connection only
            request["rewind"] = rewind
        await ws.send(msgpack.packb(request))

    while True:
        await asyncio.sleep(delay)
        code, reason, delay = 1006, "", None  # 1006: the connection broke without a close frame
        try:
            async with connect(url, **options) as ws:
                welcome = msgpack.unpackb(await ws.recv())
                silence = 3 * welcome["heartbeat_ms"] / 1000
                await subscribe(ws)
                backoff = 0.5
                while True:
                    msg = msgpack.unpackb(await asyncio.wait_for(ws.recv(), silence))
                    kind = msg["type"]
                    if kind in ("tick", "bar", "snapshot"):
                        topic, seq = msg["topic"], msg["seq"]
                        last = position.get(topic)
                        # The topic's epoch (section 14): a snapshot names it (so does a bar that
                        # carries one), a tick keeps its topic's; a topic not seen yet has welcome's.
                        epoch = msg.get("epoch") or (last[0] if last else welcome["epoch"])
                        # Announced gaps: a failed resume or a loss upstream (recovered: false),
                        # or a new epoch (the source restarted).
                        if msg.get("recovered") is False:
                            note(type="gap", topic=topic, epoch=epoch, reason="not_recovered")
                        elif kind == "snapshot" and last and last[0] != epoch:
                            note(type="gap", topic=topic, epoch=epoch, reason="new_epoch")
                        # Already had (a replay after subscribing again may repeat it): drop it.
                        if kind != "snapshot" and last and last[0] == epoch and seq <= last[1]:
                            continue
                        # A new epoch restarts the topic's seqs: that is not a gap.
                        if last and last[0] == epoch and seq != last[1] + 1:
                            print(f"gap {topic} {last[1]} -> {seq}", file=sys.stderr)
                        position[topic] = [epoch, seq]
                        note(topic=topic, epoch=epoch, seq=seq, type=kind)
                        if kind == "tick":
                            print(f"tick {topic} {seq} {msg['price']} {msg['size']}", flush=True)
                            printed += 1
                            if printed == count:
                                return 0
                    elif kind in ("book", "book_update"):
                        topic, book = msg["topic"], books.get(msg["topic"])
                        if kind == "book":  # the whole book: it replaces ours
                            book = books[topic] = msg
                        elif book is None:
                            continue  # waiting for the fresh book we subscribed again for
                        elif msg["prev_seq"] == book["seq"]:  # seq may skip, prev_seq never
                            book["bids"] = apply(book["bids"], msg["bids"], book["depth"], True)
                            book["asks"] = apply(book["asks"], msg["asks"], book["depth"], False)
                            book["seq"] = msg["seq"]
                        else:
                            book = None  # we missed an update
                        if book is None or checksum(book) != msg["checksum"]:
                            why = "checksum mismatch" if book else "missed an update"
                            print(f"gap {topic} {why} at {msg['seq']}: subscribing again", file=sys.stderr)
                            books.pop(topic, None)
                            # All our patterns: a book.* would stay if we dropped book.SYM alone.
                            await ws.send(msgpack.packb({"type": "unsubscribe", "topics": patterns}))
                            await subscribe(ws)
                            continue
                        print("book", msg["symbol"], best(book["bids"]), best(book["asks"]), flush=True)
                        printed += 1
                        if printed == count:
                            return 0
                    elif kind == "lagged":
                        print(f"lagged: {msg['dropped']} dropped on {msg['topics']}", file=sys.stderr)
                        for topic in msg["topics"]:
                            epoch = position[topic][0] if topic in position else None
                            note(type="gap", topic=topic, epoch=epoch, reason="lagged")
                    elif kind == "error":
                        print(f"error {msg['code']}: {msg['message']}", file=sys.stderr)
                        if msg.get("id") == 1:
                            return 1  # our subscribe was refused: retrying will not help
                    elif kind == "shutdown":
                        delay = msg["reconnect_after_ms"] / 1000 + random.random()
        except websockets.ConnectionClosed as closed:
            code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
        except websockets.InvalidStatus as refused:  # the server answered the upgrade with HTTP
            status, body = refused.response.status_code, refused.response.body.strip()
            print(f"refused with HTTP {status}: {body.decode(errors='replace')}", file=sys.stderr)
            if status in (400, 401, 403, 405, 426):
                return 1  # a fix or a new token is needed, not another try (503: back off)
        except (OSError, TimeoutError, websockets.InvalidHandshake) as e:
            print(f"connection failed: {e!r}", file=sys.stderr)
        if give_up(code):
            print(f"closed with {code} ({reason}): not reconnecting", file=sys.stderr)
            return 1
        if 4200 <= code <= 4299:
            delay = 0.0
        elif delay is None:
            delay, backoff = backoff * random.uniform(0.5, 1.5), min(backoff * 2, 30.0)
        print(f"closed with {code}; reconnecting in {delay:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--token", help="access token, sent as Authorization: Bearer")
    parser.add_argument("--count", type=int, default=0, help="exit 0 after N ticks and books")
    parser.add_argument("--record", type=argparse.FileType("a"), help="append JSON lines here")
    parser.add_argument("--rewind", type=int, default=0, help="start with each topic's last N")
    parser.add_argument("patterns", nargs="*", default=["ticks.*"])
    args = parser.parse_args()
    follower = follow(args.url, args.patterns, args.count, args.token, args.record, args.rewind)
    sys.exit(asyncio.run(follower))
