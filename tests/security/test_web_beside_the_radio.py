"""Idle web connections no longer starve the radio path (issue 31, point 2), against the site
`perimeter site init` writes with its dashboard on. Before, 1,100 connections that each sent
half a login header and waited took every descriptor the gateway had: logins got no answer,
ACK latency went from 41 to 384 ms, and a replugged serial port stayed down. Now the
connections beyond the gate's caps wait unread in its tarpit, the ones it let in are closed
at the header deadline, a node's climb is acked at once and a login from the control room is
answered, while the flood goes on. (`bench/web_flood_bench.py --idle 1100` measures it.)"""

import asyncio
import time
import tomllib

from gateway.config_dump import dump
from gateway.connection_gate import GateLimits
from tests.gateway.harness import SimNode, free_port, start, stop, wait_until
from tests.security.secured_site import SecuredSite

HALF_A_LOGIN = b"POST /api/login HTTP/1.1\r\nHost: x\r\n"
FLOOD = 400


async def login_answer(port: int) -> bytes:
    body = b'{"name":"j.smith","password":"wrong"}'
    request = (
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (port, port, len(body))
    ) + body
    # From the control room's desk: another address than the attacker's (127.0.0.2 is loopback too).
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_a_flood_of_idle_web_connections_leaves_the_radio_and_the_logins_alone(site: SecuredSite) -> None:
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    web = free_port()
    doc = tomllib.loads(site.config.read_text())
    doc["dashboard"]["listen"] = "127.0.0.1:%d" % web
    site.config.write_text(dump(doc))
    site.gateway, site.task = await start(site.config)
    assert site.gateway.dashboard is not None
    await wait_until(lambda: site.gateway is not None and site.gateway.dashboard.app is not None, 10)
    held = []
    for _ in range(FLOOD):
        reader, writer = await asyncio.open_connection("127.0.0.1", web)
        writer.write(HALF_A_LOGIN)
        held.append((reader, writer))
    node = SimNode(2)
    started = time.monotonic()
    site.pty.write(node.fence(peak=3000))
    while not node.take_acks(site.pty.read()):
        assert time.monotonic() - started < 2.0, "the climb was not acked within 2 s of the flood"
        await asyncio.sleep(0.005)
    acked_s = time.monotonic() - started
    assert (await login_answer(web)).startswith(b"HTTP/1.1 401 ")  # before: no answer at all
    gate = site.gateway.dashboard._server.gate  # type: ignore[union-attr]
    per_address = GateLimits().per_address
    assert gate.refused_total == FLOOD - per_address  # in the tarpit, never read
    # The ones let in are closed at the header deadline (before: held for as long as the attacker liked).
    await wait_until(lambda: gate.timed_out_total == per_address, GateLimits().header_s + 5)
    for _, writer in held:
        writer.close()
    assert acked_s < 0.5, acked_s
