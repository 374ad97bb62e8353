#!/usr/bin/env python3
"""The Python client library (clients/python, package `tickcast`) as an observer of the fault
suite: prints one JSON line per message the program gets ({topic, epoch, seq, type}) and one
per loss the *server* announced ({type: "gap", topic, epoch, reason}: a recovered:false, a new
epoch, a lagged). A gap the library found by a bare seq jump is not printed: the verdicts must
see it as the unannounced hole it is.

    python lib_observer.py URL PATTERN...
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))
import tickcast  # noqa: E402


def out(**fields):
    print(json.dumps(fields), flush=True)


async def main(url, patterns):
    async with tickcast.connect(url) as feed:
        async for msg in feed.subscribe(*patterns):
            if msg.type == "gap":
                if msg.cause in ("not_recovered", "new_epoch"):
                    out(type="gap", topic=msg.topic, epoch=msg.epoch, reason=msg.cause)
            elif msg.type == "lagged":
                for topic in msg.topics:
                    out(type="gap", topic=topic, epoch=None, reason="lagged")
            elif msg.type in ("tick", "snapshot", "bar"):
                out(topic=msg.topic, epoch=msg.epoch, seq=msg.seq, type=msg.type)


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2:]))
    except KeyboardInterrupt:
        pass
