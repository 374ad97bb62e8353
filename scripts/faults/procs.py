"""Processes and cluster control: three nats-servers, the tickcast-sim source, tickcast-server nodes,
and a small TCP load balancer in front of the nodes (round-robin over the healthy ones)."""

import asyncio
import os
import signal
import socket
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_port(port, timeout=20.0, proc=None):
    """Waits until 127.0.0.1:port accepts TCP connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            w.close()
            return
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Proc:
    """One restartable process; stdout and stderr are appended to LOGDIR/NAME.log across restarts."""

    def __init__(self, name, argv, logdir, port=None, env=None):
        self.name, self.argv, self.port = name, argv, port
        self.log = os.path.join(logdir, f"{name}.log")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.starts = 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.returncode is None

    async def start(self):
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"=== start {self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, env=self.env
            )
        if self.port:
            await wait_port(self.port, proc=self.proc)

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    async def kill9(self):
        self.signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after `timeout` (a stopped process is continued first)."""
        if not self.running():
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            await self.kill9()


class Cluster:
    """Three routed nats-servers with JetStream (the history stream replicated on all three),
    one source and N nodes, each on its own port of 127.0.0.1."""

    def __init__(self, bindir, logdir, rate, symbols, nodes=3, heartbeat_ms=1000, history=1024):
        self.bindir, self.logdir = bindir, logdir
        cluster_ports = [free_port() for _ in range(3)]
        routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports)
        self.nats_servers = []
        for i, cluster_port in enumerate(cluster_ports):
            port = free_port()
            store = os.path.join(logdir, f"nats-{i + 1}-store")
            self.nats_servers.append(Proc(f"nats-{i + 1}", [
                "nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store,
                "--server_name", f"n{i + 1}", "--cluster_name", "tickcast",
                "--cluster", f"nats://127.0.0.1:{cluster_port}", "--routes", routes,
            ], logdir, port=port))
        self.nats_urls = [f"nats://127.0.0.1:{n.port}" for n in self.nats_servers]
        self.source = Proc("source", [f"{bindir}/tickcast-sim", "--nats", ",".join(self.nats_urls),
                                      "--stream-replicas", "3", "--seed", "7",
                                      "--rate", str(rate), "--symbols", str(symbols),
                                      # Faults, not the pre-roll (tested on its own): a restart
                                      # of the source goes live at once.
                                      "--preroll", "0"], logdir)
        self.nodes = []
        for i in range(nodes):
            port = free_port()
            name = "node-" + "ABCDEFGH"[i]
            # Each node lists a different NATS server first.
            urls = self.nats_urls[i % 3:] + self.nats_urls[:i % 3]
            argv = [f"{bindir}/tickcast-server", "--listen", f"127.0.0.1:{port}", "--no-simulator",
                    "--broker", ",".join(urls), "--stream-replicas", "3",
                    "--heartbeat-ms", str(heartbeat_ms), "--history", str(history)]
            self.nodes.append(Proc(name, argv, logdir, port=port))
        self.procs = [*self.nats_servers, *self.nodes, self.source]

    def url(self, node):
        return f"ws://127.0.0.1:{node.port}/ws"

    async def start(self):
        await asyncio.gather(*(n.start() for n in self.nats_servers))
        for node in self.nodes:
            await node.start()
        await self.source.start()

    async def close(self):
        for p in reversed(self.procs):
            await p.stop()


class LoadBalancer:
    """A TCP proxy on 127.0.0.1: each new connection goes to the next healthy node (GET /healthz
    answered 200 within 0.5 s; when none is, to any that accepts). When either side closes or
    breaks, the other is closed too, as a real L4 balancer would."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.port = free_port()
        self.next = 0
        self.healthy = {n.name: True for n in nodes}
        self.server = None
        self.tasks = set()
        self.conns = {n.name: 0 for n in nodes}
        # (what, passed, detail) of the health checks the faults made
        self.checks = []

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
        self.tasks.add(asyncio.create_task(self.check_health()))

    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    async def close(self):
        for t in self.tasks:
            t.cancel()
        self.server.close()

    async def healthz(self, node):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node.port), 0.5)
            w.write(b"GET /healthz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
            line = await asyncio.wait_for(r.readline(), 0.5)
            w.close()
            return b" 200 " in line
        except (OSError, asyncio.TimeoutError):
            return False

    async def check_health(self):
        while True:
            results = await asyncio.gather(*(self.healthz(n) for n in self.nodes))
            self.healthy = {n.name: ok for n, ok in zip(self.nodes, results)}
            await asyncio.sleep(0.3)

    async def handle(self, reader, writer):
        order = [self.nodes[(self.next + i) % len(self.nodes)] for i in range(len(self.nodes))]
        self.next += 1
        healthy = [n for n in order if self.healthy.get(n.name)]
        for node in healthy or order:
            try:
                br, bw = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", node.port), 1)
                break
            except (OSError, asyncio.TimeoutError):
                continue
        else:
            writer.transport.abort()
            return
        self.conns[node.name] += 1

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                dst.close()  # a clean end: pass it on once what was read is written
            except (OSError, asyncio.CancelledError):
                dst.transport.abort()  # a broken side: break the other too

        t1 = asyncio.create_task(pipe(reader, bw))
        t2 = asyncio.create_task(pipe(br, writer))
        self.tasks.update((t1, t2))
        done, pending = await asyncio.wait((t1, t2), return_when=asyncio.FIRST_COMPLETED)
        try:
            await asyncio.sleep(0.2)  # let the other direction finish writing what it has
        except asyncio.CancelledError:
            pass
        finally:
            for t in pending:
                t.cancel()
            writer.transport.abort()
            bw.transport.abort()
            self.tasks.difference_update((t1, t2))
