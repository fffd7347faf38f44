"""Does a web flood starve the radio pipeline? The dashboard is served from the gateway's own
process and event loop; this measures what that costs the nodes.

    .venv/bin/python bench/web_flood_bench.py [--seconds 20] [--rate 20] [--clients 64]
    .venv/bin/python bench/web_flood_bench.py --idle 1100 [--seconds 60]

Real parts: a Mosquitto of its own, a `perimeter gateway` process reading a pseudo-terminal
as its serial port, with the dashboard on. A node writes a FENCE frame (ack_req) every
1/rate s; the ACK's latency is the time from the frame's write to its ACK read back from the
pty (the journal commit is in between). Twice: quiet, then while `--clients` connections
hammer the dashboard as fast as it answers (the login page, a static file, unauthenticated
API calls that are refused, failed logins: what anyone on the network can send). Printed:
ACK latency p50 / p99 / max in both phases, the requests the dashboard answered per second,
and the gateway's CPU time. The flood's clients run on the same 2 cores as the gateway.

`--idle N` (issue 31, point 2): N connections that each send half a login header
(`POST /api/login HTTP/1.1\r\nHost: x\r\n`) and wait, reopened as soon as the gateway drops
one, as the attacker held 1,100 of them. Printed: ACK latency quiet and under it (the target:
p99 within 2x), the gateway's CPU, the log it wrote in the flood's minute, whether a login is
answered during it, and how long a replugged serial port takes to carry ACKs again.
"""

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.identity.accounts import add_account  # noqa: E402
from tests.gateway.harness import Broker, Pty, SimNode, serial, write_site  # noqa: E402

PERIMETER = str(Path(sys.executable).with_name("perimeter"))
REQUESTS = (
    b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/dashboard.js HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/snapshot HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n"
    b'{"name":"guess","password":"guess"}',
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bench_site(work: Path) -> tuple[Broker, Pty, int, Path]:
    """A broker, a pty for the node, the dashboard's port and the site's config, in `work`."""
    broker = Broker(work)
    broker.start()
    pty = Pty(work / "ttyBENCH")
    web = free_port()
    add_account(work / "operators.txt", "alice", "operator", "correct horse battery")
    dashboard = {"dashboard": {"listen": "127.0.0.1:%d" % web, "accounts_file": "operators.txt"}}
    config = write_site(work, broker.port, nodes=[1], transports=serial(("bench", pty.link)), extra=dashboard)
    return broker, pty, web, config


async def warmed_up(pty: Pty) -> SimNode:
    """The node, once a frame of its was acked: the port open, the journal ready."""
    node = SimNode(1)
    warm_until = time.time() + 20
    while not node.acked and time.time() < warm_until:
        pty.write(node.fence())
        await asyncio.sleep(0.2)
        node.take_acks(pty.read())
    return node


async def ack_latencies(pty: Pty, node: SimNode, rate: float, seconds: float) -> list[float]:
    """Write a climb every 1/rate s; each one's time to its ACK, in ms."""
    written: dict[int, float] = {}
    acked: dict[int, float] = {}
    t0 = time.time()
    for i in range(int(rate * seconds)):
        target = t0 + i / rate
        while time.time() < target:
            for ctr in node.take_acks(pty.read()):
                acked.setdefault(ctr, time.time())
            await asyncio.sleep(0.001)
        written[node.ctr] = time.time()
        pty.write(node.fence())
    deadline = time.time() + 10
    while len(acked) < len(written) and time.time() < deadline:
        for ctr in node.take_acks(pty.read()):
            acked.setdefault(ctr, time.time())
        await asyncio.sleep(0.001)
    missing = len(written) - len([c for c in written if c in acked])
    if missing:
        print("  %d of %d frames were not acked within 10 s" % (missing, len(written)))
    return [(acked[c] - t) * 1000 for c, t in written.items() if c in acked]


async def flood(port: int, stop: asyncio.Event, served: list[int]) -> None:
    """One client: a request, its whole answer, the next, until told to stop."""
    k = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUESTS[k % len(REQUESTS)].replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n"))
            k += 1
            await writer.drain()
            await reader.read()
            writer.close()
            served[0] += 1
        except OSError:
            await asyncio.sleep(0.01)


def figures(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d frames)" % (
        statistics.median(ordered),
        p99,
        ordered[-1],
        len(ordered),
    )


def cpu_s(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


HALF_A_LOGIN = b"POST /api/login HTTP/1.1\r\nHost: x\r\n"


ATTACKER = """
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, count = int(sys.argv[1]), int(sys.argv[2])
HALF = b"POST /api/login HTTP/1.1\\r\\nHost: x\\r\\n"
held = [0]

async def idler():
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HALF)
            await writer.drain()
            held[0] += 1
            try:
                await reader.read()
            finally:
                held[0] -= 1
                writer.close()
        except OSError:
            pass
        await asyncio.sleep(0.05)

async def main():
    tasks = [asyncio.create_task(idler()) for _ in range(count)]
    while True:
        await asyncio.sleep(1)
        print(held[0], flush=True)

asyncio.run(main())
"""


async def login_answer_s(port: int) -> float | None:
    """Seconds until a (wrong) login gets its answer; None if none in 10 s."""
    body = b'{"name":"alice","password":"wrong"}'
    request = (
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\nContent-Type: "
        b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (port, port, len(body))
    ) + body
    t0 = time.time()
    try:
        # From the operator's desk: another address than the attacker's (127.0.0.2 is loopback too).
        connecting = asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        reader, writer = await asyncio.wait_for(connecting, 10)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    except (OSError, TimeoutError):
        return None
    return time.time() - t0 if answer.startswith(b"HTTP/1.1 ") else None


async def replug_s(pty: Pty, node: SimNode) -> float | None:
    """Unplug the serial port, plug it again: seconds until a frame is acked again."""
    pty.unplug()
    await asyncio.sleep(0.5)
    pty.plug()
    t0 = time.time()
    while time.time() - t0 < 30:
        pty.write(node.fence(), drop_when_full=True)
        await asyncio.sleep(0.2)
        if node.take_acks(pty.read()):
            return time.time() - t0
    return None


async def idle_flood(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, pty, web, config = bench_site(work)
        log_file = work / "gateway.log"
        with log_file.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                PERIMETER, "gateway", "run", "--config", str(config), stderr=log
            )
            node = await warmed_up(pty)
            quiet = await ack_latencies(pty, node, args.rate, args.seconds)
            quiet_login = await login_answer_s(web)
            # The attacker is a process of its own: its 1,100 tasks must not delay this loop,
            # which writes the node's frames and reads their ACKs.
            attacker = await asyncio.create_subprocess_exec(
                sys.executable, "-c", ATTACKER, str(web), str(args.idle), stdout=asyncio.subprocess.PIPE
            )
            assert attacker.stdout is not None
            for _ in range(3):  # the connections made
                held_now = int(await attacker.stdout.readline())
            log_before, cpu0, t0 = log_file.stat().st_size, cpu_s(proc.pid), time.time()
            most_held = held_now
            loaded = await ack_latencies(pty, node, args.rate, args.seconds)
            flooded_login = await login_answer_s(web)
            replugged = await replug_s(pty, node)
            elapsed = time.time() - t0
            cpu = (cpu_s(proc.pid) - cpu0) / elapsed
            logged = log_file.stat().st_size - log_before
            if replugged is None:  # what the gateway said about its port
                print(log_file.read_text()[-3000:])
            attacker.kill()
            await attacker.wait()
            proc.terminate()
            await proc.wait()
        pty.unplug()
        broker.stop()
    print("ACK latency, quiet:                              " + figures(quiet))
    print("ACK latency, under %4d idle web connections:   " % args.idle + figures(loaded))
    print(
        json.dumps(
            {
                "idle_connections_tried": args.idle,
                "attacker_connections_open": most_held,
                "gateway_cpu_cores": round(cpu, 2),
                "log_bytes_per_minute": round(logged * 60 / elapsed),
                "login_answer_s_quiet": None if quiet_login is None else round(quiet_login, 3),
                "login_answer_s_flooded": None if flooded_login is None else round(flooded_login, 3),
                "serial_replug_to_ack_s": None if replugged is None else round(replugged, 2),
            }
        )
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--idle", type=int, default=0, help="hold this many half-sent requests open instead")
    args = parser.parse_args()
    if args.idle:
        await idle_flood(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, pty, web, config = bench_site(work)
        proc = await asyncio.create_subprocess_exec(
            PERIMETER, "gateway", "run", "--config", str(config), stderr=asyncio.subprocess.DEVNULL
        )
        node = await warmed_up(pty)
        quiet = await ack_latencies(pty, node, args.rate, args.seconds)
        stop, served = asyncio.Event(), [0]
        clients = [asyncio.create_task(flood(web, stop, served)) for _ in range(args.clients)]
        await asyncio.sleep(1.0)  # the flood under way
        cpu0, served0, t0 = cpu_s(proc.pid), served[0], time.time()
        loaded = await ack_latencies(pty, node, args.rate, args.seconds)
        rate = (served[0] - served0) / (time.time() - t0)
        cpu = (cpu_s(proc.pid) - cpu0) / (time.time() - t0)
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
        proc.terminate()
        await proc.wait()
        pty.unplug()
        broker.stop()
    print("ACK latency, quiet:             " + figures(quiet))
    print("ACK latency, under a web flood: " + figures(loaded))
    print(
        json.dumps(
            {"clients": args.clients, "requests_per_s": round(rate), "gateway_cpu_cores": round(cpu, 2)},
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
