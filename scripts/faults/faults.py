"""The faults: each phase injects one fault into the running cluster, recovers from it, and
lets the observers settle. `strict` names the observer roles that must see no hole at all in
that phase (the node they land on holds what they missed); the others may see holes, but
only announced ones."""

import asyncio
import signal

SETTLE = 6.0  # seconds after recovery before the next phase


async def baseline(cluster, lb):
    await asyncio.sleep(4)


async def kill_and_restart(proc, down_s, settle_s=SETTLE):
    """kill -9 of `proc`, started again `down_s` later (same port), then `settle_s` to settle."""
    await proc.kill9()
    await asyncio.sleep(down_s)
    await proc.start()
    await asyncio.sleep(settle_s)


async def node_kill(cluster, lb):
    """kill -9 of node A, restarted 2 s later on the same port."""
    await kill_and_restart(cluster.nodes[0], 2)


async def node_stop(cluster, lb):
    """SIGSTOP of node B for 4.5 s (more than 3 heartbeats), then SIGCONT."""
    node = cluster.nodes[1]
    node.signal(signal.SIGSTOP)
    await asyncio.sleep(4.5)
    node.signal(signal.SIGCONT)
    await asyncio.sleep(SETTLE)


async def late_node(cluster, lb):
    """Node A killed, started again 8 s later with nothing in memory: it loads the history
    from the JetStream stream before it says ready, so the clients pinned to it resume with
    no hole."""
    # Its pinned clients' reconnect backoff has grown over the 8 s: settle longer, so they
    # are back and see data (bars every second) within the phase.
    await kill_and_restart(cluster.nodes[0], 8, SETTLE + 6)


async def nats_member_restart(cluster, lb):
    """The nats-server leading the stream killed, restarted 3 s later: the stream lives on the
    other two, the source and the nodes fail over to them; nothing is lost. A reader whose
    consumer was on the dead server waits for JetStream to elect a new meta leader (4-9 s
    in nats-server) before it reads on: the phase gives it that."""
    leader = stream_leader(cluster)
    print(f"   {leader.name} leads the stream: killing it", flush=True)
    await kill_and_restart(leader, 3, SETTLE + 6)


def stream_leader(cluster):
    """The nats-server that leads the history stream (the hardest one to lose: the stream
    stores nothing until a new leader is elected): the one whose log last said it became
    its leader; the first server when none did."""
    latest, leader = "", cluster.nats_servers[0]
    for member in cluster.nats_servers:
        with open(member.log, errors="replace") as f:
            for line in f:
                if "new stream leader for '$G > TICKCAST'" in line:
                    stamp = " ".join(line.split()[1:3])  # "[pid] 2026/12/03 18:36:27.96 [INF] ..."
                    if stamp > latest:
                        latest, leader = stamp, member
    return leader


async def nats_cluster_restart(cluster, lb):
    """All three nats-servers killed, restarted 3 s later: the nodes keep their clients and
    what they hold, say not-ready on /healthz meanwhile, and ready again once they have
    caught up with the stream (a loss during the outage is announced)."""
    await asyncio.gather(*(m.kill9() for m in cluster.nats_servers))
    await wait_health(lb, False, 3, "every node not-ready while NATS is down")
    await asyncio.sleep(2)
    await asyncio.gather(*(m.start() for m in cluster.nats_servers))
    await wait_health(lb, True, 30, "every node ready again after NATS is back")
    await asyncio.sleep(SETTLE)


async def wait_health(lb, ready, limit, what):
    """Waits until the balancer's health checks see every node ready (or every node not);
    records the check in lb.checks."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < limit:
        if all(ok == ready for ok in lb.healthy.values()):
            lb.checks.append((what, True, f"after {loop.time() - start:.1f} s"))
            return
        await asyncio.sleep(0.1)
    lb.checks.append((what, False, f"not within {limit} s: {lb.healthy}"))


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
    ("late-node", late_node, {"lb", "hopper", "pinned"}),
    ("nats-member-restart", nats_member_restart, HEALTHY),
    ("nats-cluster-restart", nats_cluster_restart, set()),
    ("source-restart", source_restart, set()),
    ("hop", quiet, HEALTHY),
]
