"""A cluster move with no hole, against real processes: a plain nats-server (no JetStream),
node A (tickcast-server with its embedded simulator, publishing into the cluster through
NATS) and node B (``--no-simulator``: it serves what NATS delivers). The client connects to A
through the cut proxy; once it has data, the proxy is pointed at B and the connection cut:
the feed resumes every topic on B with its ``(epoch, seq)`` (``since``), and the stream has
no gap, no duplicate and contiguous seqs per topic across the move.

Without nats-server the test is skipped (the reason is printed: pytest runs with ``-rs``),
or fails when ``TICKCAST_REQUIRE_NATS`` is set (scripts/test.sh and
scripts/test-python-client.sh install nats-server and set it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

import tickcast
from tickcast import Bar, Snapshot, Tick

from conftest import ProxyFactory, Server
from support import SYMBOLS, Seen, read_until

EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin")  # where Debian puts nats-server
TICKS = [f"ticks.{s}" for s in SYMBOLS]
BARS = [f"bars.1s.{s}" for s in SYMBOLS]


def nats_server_bin() -> str:
    """nats-server's path; else a skip, or a failure under ``TICKCAST_REQUIRE_NATS``."""
    found = shutil.which("nats-server") or next(
        (p for d in EXTRA_DIRS if os.access(p := f"{d}/nats-server", os.X_OK)), None
    )
    if found is not None:
        return found
    if os.environ.get("TICKCAST_REQUIRE_NATS"):
        pytest.fail(
            "nats-server is required (TICKCAST_REQUIRE_NATS is set) but not found on PATH "
            f"or in {', '.join(EXTRA_DIRS)}"
        )
    pytest.skip(
        "nats-server not found on PATH (install it, or set TICKCAST_REQUIRE_NATS to make "
        "this a failure)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def nats() -> AsyncIterator[str]:
    """A plain nats-server on 127.0.0.1 (no JetStream), listening: its ``nats://`` URL."""
    binary = nats_server_bin()
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            binary, "-a", "127.0.0.1", "-p", str(port), stdout=log, stderr=log
        )
        try:
            async with asyncio.timeout(10):
                while True:
                    assert proc.returncode is None, "nats-server exited"
                    try:
                        _, w = await asyncio.open_connection("127.0.0.1", port)
                        w.close()
                        break
                    except OSError:
                        await asyncio.sleep(0.05)
            yield f"nats://127.0.0.1:{port}"
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


@pytest.fixture
async def node_b() -> AsyncIterator[Server]:
    """A second tickcast-server (the `server` fixture is node A)."""
    s = Server()
    try:
        yield s
    finally:
        await s.stop()
        s.stderr.close()


async def healthz(addr: str) -> tuple[int, dict[str, Any]]:
    """``GET /healthz`` of the server at `addr`: the HTTP status and the JSON body."""
    host, port = addr.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    try:
        w.write(f"GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(r.read(), 5)
    finally:
        w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def wait_ready(node: Server) -> dict[str, Any]:
    """Polls `node`'s ``/healthz`` until 200 (it joined the cluster); its body. At most 20 s."""
    status = 0
    body: dict[str, Any] = {}
    try:
        async with asyncio.timeout(20):
            while True:
                status, body = await healthz(node.addr)
                if status == 200:
                    assert body["ready"] is True and body["broker"] == "nats", body
                    return body
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{node.addr} not ready: {status} {body}; {node.log()}") from None


async def test_a_client_moved_to_another_node_resumes_with_no_hole(
    nats: str, server: Server, node_b: Server, proxy_factory: ProxyFactory
) -> None:
    # B first: it then holds every message the cluster publishes (a plain NATS keeps none).
    await node_b.start("--broker", nats, "--no-simulator")
    b = await wait_ready(node_b)
    await server.start("--broker", nats)  # node A: the simulator (--preroll 0, 5 symbols)
    a = await wait_ready(server)
    assert a["epoch"] != b["epoch"]
    proxy, url = await proxy_factory(server.addr)
    async with tickcast.connect(url) as feed:
        assert feed.welcome is not None and feed.welcome.epoch == a["epoch"]
        seen = Seen()
        sub = feed.subscribe("ticks.*", "bars.1s.*")
        await read_until(
            sub,
            seen,
            lambda: all(seen.count[t] >= 10 for t in TICKS) and all(seen.count[t] >= 2 for t in BARS),
        )
        await wait_ready(node_b)
        proxy.point(node_b.addr)
        proxy.cut()
        moved = len(seen.items)
        before = dict(seen.count)
        await read_until(
            sub,
            seen,
            lambda: feed.connections == 2
            and all(seen.count[t] >= before[t] + 10 for t in TICKS)
            and all(seen.count[t] >= before[t] + 2 for t in BARS),
            timeout=30,
        )
        # Now on B, resumed: nothing announced, nothing twice, no snapshot after the move.
        assert feed.connections == 2
        assert feed.welcome is not None and feed.welcome.epoch == b["epoch"]
        assert seen.gaps == [] and seen.lagged == []
        assert not any(isinstance(i, Snapshot) for i in seen.items[moved:])
        for topic in TICKS + BARS:
            mine = [i for i in seen.items if isinstance(i, Tick | Snapshot | Bar) and i.topic == topic]
            seqs = [i.seq for i in mine]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (topic, seqs)
            # One epoch, the source's (A's simulator), on either node: never B's own.
            epochs = {i.epoch for i in mine}
            assert len(epochs) == 1 and b["epoch"] not in epochs, (topic, epochs)
        assert all(seen.count[t] > before[t] for t in TICKS + BARS)  # the seam is crossed
