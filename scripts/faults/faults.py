"""The faults: each phase injects one fault into the running cluster, recovers from it, and
lets the observers settle. `strict` names the observer roles that must see no hole at all in
that phase (the node they land on holds what they missed); the others may see holes, but
only announced ones."""

import asyncio
import signal

SETTLE = 6.0  # seconds after recovery before the next phase


async def baseline(cluster, lb):
    await asyncio.sleep(4)


async def node_kill(cluster, lb):
    """kill -9 of node A, restarted 2 s later on the same port."""
    node = cluster.nodes[0]
    await node.kill9()
    await asyncio.sleep(2)
    await node.start()
    await asyncio.sleep(SETTLE)


async def node_stop(cluster, lb):
    """SIGSTOP of node B for 4.5 s (more than 3 heartbeats), then SIGCONT."""
    node = cluster.nodes[1]
    node.signal(signal.SIGSTOP)
    await asyncio.sleep(4.5)
    node.signal(signal.SIGCONT)
    await asyncio.sleep(SETTLE)


async def nats_restart(cluster, lb):
    """nats-server killed, restarted 3 s later on the same port; the source keeps publishing."""
    await cluster.nats.kill9()
    await asyncio.sleep(3)
    await cluster.nats.start()
    await asyncio.sleep(SETTLE + 2)


async def source_restart(cluster, lb):
    """The source killed and restarted: every topic gets a new epoch, seq from 1 again."""
    await cluster.source.kill9()
    await asyncio.sleep(1)
    await cluster.source.start()
    await asyncio.sleep(SETTLE)


async def quiet(cluster, lb):
    """No fault: the hopper keeps moving between nodes, slow readers keep lagging."""
    await asyncio.sleep(8)


HEALTHY = {"lb", "pinned", "hopper", "control"}
PHASES = [
    # name, fault, roles that must see no hole at all
    ("baseline", baseline, HEALTHY),
    ("node-kill", node_kill, {"lb", "hopper"}),
    ("node-stop", node_stop, {"lb", "hopper"}),
    ("nats-restart", nats_restart, set()),
    ("source-restart", source_restart, set()),
    ("hop", quiet, HEALTHY),
]
