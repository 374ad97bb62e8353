"""Test support: the real tickcast-server as a subprocess (`server`; `HISTORY` and `SLOW`:
the flags of a server with history, and of one whose queues overflow), and a TCP proxy in
front of it that can cut or freeze the connections through it, or send new ones to another
server (`proxy_factory`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
SERVER_BIN = Path(os.environ.get("TICKCAST_SERVER") or TARGET / "debug" / "tickcast-server")
# No pre-roll unless a test asks for one (``--preroll 10m``): a day of it takes seconds to
# load, and tests count from what they see.
BASE_FLAGS = ["--seed", "7", "--rate", "200", "--symbols", "5", "--preroll", "0"]
HISTORY = ["--preroll", "10m"]
"""Flags of a server with history: every topic starts with 10 minutes of it."""
SLOW = ["--queue-bytes", "2048", "--rate", "2000", "--heartbeat-ms", "5000"]
"""Flags of a server whose queue overflows for a reader that stops for a few seconds (a bound
small enough that a depth-50 book's merged updates outgrow it: a fresh book follows)."""


class Server:
    """A tickcast-server subprocess; `url` comes from its first stdout line."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.addr = ""
        self.stderr = tempfile.NamedTemporaryFile(prefix="tickcast-server-", suffix=".log")

    async def start(self, *flags: str, listen: str = "127.0.0.1:0", base: bool = True) -> str:
        if not SERVER_BIN.exists():
            raise RuntimeError(f"{SERVER_BIN} is missing: run `cargo build -p tickcast-server`")
        given = {f for f in flags if f.startswith("--")}
        defaults = [
            x for name, value in zip(BASE_FLAGS[::2], BASE_FLAGS[1::2]) if name not in given
            for x in (name, value)
        ]
        args = [*(defaults if base else []), *flags]
        self.proc = await asyncio.create_subprocess_exec(
            str(SERVER_BIN),
            "--listen",
            listen,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr,
        )
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 15)).decode().strip()
        m = re.fullmatch(r"listening on (wss?://([^/]+)/ws)", line)
        if not m:
            raise RuntimeError(f"tickcast-server's first line is {line!r}; log: {self.log()}")
        self.url, self.addr = m.group(1), m.group(2)
        return self.url

    async def restart(self, *flags: str) -> str:
        """Stops the server (SIGTERM: a ``shutdown``, then close 1001) and starts a new one
        with `flags` on the same address."""
        addr = self.addr
        await self.stop(signal.SIGTERM)
        return await self.start(*flags, listen=addr)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    def log(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text(errors="replace")[-2000:]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        await s.stop(signal.SIGKILL)
        s.stderr.close()


class Proxy:
    """Forwards 127.0.0.1:port to `target` ("host:port"). `cut()` aborts every open
    connection (the client sees the TCP connection end, no close frame); `freeze()` stops
    forwarding on the open ones (the client hears nothing; new connections work);
    `point(target)` sends new connections elsewhere (a load balancer moving a client)."""

    def __init__(self, target: str) -> None:
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.server: asyncio.base_events.Server | None = None
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, list[bool]]] = []
        self.frozen: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, list[bool]]] = []
        self.port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{self.port}/ws"

    async def _accept(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            cw.close()
            return
        frozen = [False]
        self.links.append((cw, sw, frozen))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    while frozen[0]:
                        await asyncio.sleep(3600)
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    def point(self, target: str) -> None:
        """New connections go to `target` ("host:port"); open ones stay where they are."""
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)

    def cut(self) -> None:
        for cw, sw, _ in self.links:
            cw.transport.abort()
            sw.transport.abort()
        self.links.clear()

    def freeze(self) -> None:
        for link in self.links:
            link[2][0] = True
        self.frozen.extend(self.links)
        self.links.clear()

    async def close(self) -> None:
        self.links.extend(self.frozen)
        self.frozen.clear()
        self.cut()
        if self.server is not None:
            self.server.close()


class ProxyFactory:
    """Starts proxies (`__call__`), each closed when the test ends."""

    def __init__(self) -> None:
        self.made: list[Proxy] = []

    async def __call__(self, target: str) -> tuple[Proxy, str]:
        """A started `Proxy` to `target` ("host:port") and the ``ws://`` URL through it."""
        proxy = Proxy(target)
        self.made.append(proxy)
        return proxy, await proxy.start()


@pytest.fixture
async def proxy_factory() -> AsyncIterator[ProxyFactory]:
    factory = ProxyFactory()
    yield factory
    for p in factory.made:
        await p.close()


@pytest.fixture(autouse=True)
async def dump_tasks_when_stuck() -> AsyncIterator[None]:
    """A test still running after 90 s prints every asyncio task's stack (pytest-timeout
    ends it at 120 s, showing only the threads)."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)

    handle = loop.call_later(float(os.environ.get("TICKCAST_TEST_DUMP_AFTER", "90")), dump)
    yield
    handle.cancel()
