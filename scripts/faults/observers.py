"""Observers: subscribers that record every (topic, epoch, seq) they receive and every gap
announced to them, each event tagged with the fault phase during which it arrived.

- SubObserver: the Rust client, `tickcast-sub --url URL PATTERN...` (JSON lines on stdout;
  gap lines `{"type":"gap",...}` on stderr).
- RecordObserver: the Python or JavaScript example client with `--record FILE`.
- RawObserver: an in-process websocket client (same algorithm as the example clients) that can
  hop between nodes, read slowly, or stop reading for seconds.

Event kinds: data {topic, epoch, seq, type}; ann {topic, epoch, reason} (a gap announced in
order: lagged, recovered:false, a new epoch); gapline {topic, epoch, expected, received}
(tickcast-sub's stderr gap lines, matched by content as stderr is not ordered with stdout).
"""

import asyncio
import json
import os
import random
import socket
import time

import msgpack
import websockets
from websockets.asyncio.client import connect


class Observer:
    def __init__(self, name, role):
        self.name, self.role = name, role  # role: lb | pinned | hopper | slow | stalled | control
        self.events = []
        self.phase = "start"
        self.reconnects = 0

    def add(self, kind, **fields):
        fields["kind"], fields["phase"] = kind, self.phase
        self.events.append(fields)

    def poll(self):
        """Reads what the observer wrote since the last call (external observers)."""

    def dump(self, path):
        with open(path, "w") as f:
            for e in self.events:
                f.write(json.dumps(e) + "\n")


class Tail:
    """Complete new lines of a file that another process appends to."""

    def __init__(self, path):
        self.path, self.pos, self.buf = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        *lines, self.buf = (self.buf + data).split(b"\n")
        return [line.decode(errors="replace") for line in lines]


class ProcObserver(Observer):
    """An observer that is a child process; argv is completed by the subclass."""

    def __init__(self, name, role, argv, workdir, cwd=None):
        super().__init__(name, role)
        self.argv, self.cwd = argv, cwd
        self.out = os.path.join(workdir, f"{name}.stdout")
        self.err = os.path.join(workdir, f"{name}.stderr")
        self.proc = None

    async def start(self):
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=out, stderr=err, stdin=asyncio.subprocess.DEVNULL, cwd=self.cwd)

    async def stop(self):
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
        self.poll()


class SubObserver(ProcObserver):
    def __init__(self, name, role, bindir, url, patterns, workdir):
        super().__init__(name, role, [f"{bindir}/tickcast-sub", "--url", url, *patterns], workdir)
        self.stdout, self.stderr = Tail(self.out), Tail(self.err)
        self.epochs = {}  # topic -> epoch, from its snapshots (and bar.epoch when present)

    def poll(self):
        for line in self.stdout.lines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind, topic = msg.get("type"), msg.get("topic")
            if kind in ("tick", "bar", "snapshot"):
                known = self.epochs.get(topic)
                epoch = msg.get("epoch", known)
                if msg.get("recovered") is False:  # a snapshot, or a bar (PROTOCOL.md §8)
                    self.add("ann", topic=topic, epoch=epoch, reason="not_recovered")
                elif kind == "snapshot" and known is not None and known != epoch:
                    self.add("ann", topic=topic, epoch=epoch, reason="new_epoch")
                self.epochs[topic] = epoch
                self.add("data", topic=topic, epoch=epoch, seq=msg["seq"], type=kind)
            elif kind == "lagged":
                for t in msg.get("topics", []):
                    self.add("ann", topic=t, epoch=self.epochs.get(t), reason="lagged")
        for line in self.stderr.lines():
            if "disconnected" in line:
                self.reconnects += 1
            start = line.find("{")
            if start < 0:
                continue
            try:
                msg = json.loads(line[start:])
            except ValueError:
                continue
            if msg.get("type") == "gap":
                self.add("gapline", topic=msg.get("topic"), epoch=msg.get("epoch"),
                         expected=msg.get("expected"), received=msg.get("received"))


class RecordObserver(ProcObserver):
    """examples/clients/python/client.py or examples/clients/js/client.mjs with --record."""

    def __init__(self, name, role, argv, url, patterns, workdir, cwd=None):
        self.record = os.path.join(workdir, f"{name}.record")
        super().__init__(name, role, [*argv, "--url", url, "--record", self.record, *patterns],
                         workdir, cwd)
        self.tail, self.errtail = Tail(self.record), Tail(self.err)

    def poll(self):
        for line in self.tail.lines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "gap":
                self.add("ann", topic=r["topic"], epoch=r.get("epoch"), reason=r.get("reason"))
            else:
                self.add("data", topic=r["topic"], epoch=r["epoch"], seq=r["seq"], type=r["type"])
        self.reconnects += sum("reconnecting" in line for line in self.errtail.lines())


class WebObserver(RecordObserver):
    """The web page in headless Chromium (scripts/web/fault-observer.mjs): it prints the
    page's records ({topic, epoch, seq, type} and announcements) on stdout."""

    def __init__(self, name, role, url, pattern, workdir):
        web = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
        ProcObserver.__init__(self, name, role,
                              ["node", os.path.join(web, "fault-observer.mjs"), url, pattern],
                              workdir, cwd=web)
        self.tail, self.errtail = Tail(self.out), Tail(self.err)


class LibObserver(RecordObserver):
    """A client library (clients/python or clients/js) through scripts/faults/lib_observer.*:
    the records come on its stdout, in the --record format of the example clients."""

    def __init__(self, name, role, argv, url, patterns, workdir):
        ProcObserver.__init__(self, name, role, [*argv, url, *patterns], workdir)
        self.tail, self.errtail = Tail(self.out), Tail(self.err)


class RawObserver(Observer):
    """In-process subscriber. hop_every: move to the next of `urls` every so many seconds
    (resuming with since); read_delay: sleep after every message; stalls: (every, [durations])
    stop reading for each duration in turn, every `every` seconds."""

    def __init__(self, name, role, urls, patterns, hop_every=None, read_delay=0.0, stalls=None):
        super().__init__(name, role)
        self.urls, self.patterns = urls, patterns
        self.hop_every, self.read_delay, self.stalls = hop_every, read_delay, stalls
        self.position = {}
        self.task = None
        self.hops = 0
        self.sessions = {}

    async def start(self):
        self.task = asyncio.create_task(self.run())

    async def stop(self):
        # Python 3.11's asyncio.wait_for can swallow a cancellation that arrives as its inner
        # wait completes, so one cancel() may be lost: repeat it until the task has ended.
        while self.task and not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=1)

    async def run(self):
        i = 0
        while True:
            url = self.urls[i % len(self.urls)]
            try:
                await self.session(url)
                self.hops += 1
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                self.reconnects += 1
                await asyncio.sleep(0.3 + 0.4 * random.random())
            i += 1

    async def session(self, url):
        host, port = url.split("/")[2].split(":")
        sock = socket.socket()
        if self.read_delay or self.stalls:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, int(port))), 2)
        except BaseException:
            sock.close()
            raise
        slow = bool(self.read_delay or self.stalls)
        async with connect(url, sock=sock, subprotocols=["tickcast.v1.msgpack"], open_timeout=3,
                           close_timeout=1,
                           ping_interval=None, max_queue=4 if slow else 64) as ws:
            welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 3))
            self.sessions[url] = self.sessions.get(url, 0) + 1
            request = {"type": "subscribe", "id": 1, "topics": self.patterns}
            if self.position:
                request["since"] = self.position
            await ws.send(msgpack.packb(request))
            silence = 3 * welcome["heartbeat_ms"] / 1000
            now = time.monotonic()
            hop_at = now + self.hop_every if self.hop_every else None
            stall_at, stall_n = (now + self.stalls[0], 0) if self.stalls else (None, 0)
            while True:
                wait = silence if hop_at is None else min(silence, hop_at - time.monotonic())
                if hop_at is not None and wait <= 0:
                    return  # time to hop: the next session resumes on the next node
                try:
                    frame = await asyncio.wait_for(ws.recv(), wait)
                except asyncio.TimeoutError:
                    if hop_at is not None and time.monotonic() >= hop_at:
                        return
                    raise  # nothing for 3 heartbeats: dead
                self.handle(msgpack.unpackb(frame), welcome)
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
                if stall_at is not None and time.monotonic() >= stall_at:
                    durations = self.stalls[1]
                    await asyncio.sleep(durations[stall_n % len(durations)])
                    stall_n += 1
                    stall_at = time.monotonic() + self.stalls[0]

    def handle(self, msg, welcome):
        kind = msg.get("type")
        if kind in ("tick", "bar", "snapshot"):
            topic, seq = msg["topic"], msg["seq"]
            last = self.position.get(topic)
            epoch = msg.get("epoch") or (last[0] if last else welcome["epoch"])
            if msg.get("recovered") is False:  # a snapshot, or a bar (PROTOCOL.md §8)
                self.add("ann", topic=topic, epoch=epoch, reason="not_recovered")
            elif kind == "snapshot" and last and last[0] != epoch:
                self.add("ann", topic=topic, epoch=epoch, reason="new_epoch")
            self.position[topic] = [epoch, seq]
            self.add("data", topic=topic, epoch=epoch, seq=seq, type=kind)
        elif kind == "lagged":
            for t in msg["topics"]:
                last = self.position.get(t)
                self.add("ann", topic=t, epoch=last[0] if last else None, reason="lagged")
