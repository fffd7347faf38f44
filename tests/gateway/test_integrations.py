"""Milestone XProtect generic events and the HTTPS webhook get every alarm, in order,
including those raised while they were unreachable: loopback servers started late."""

import asyncio
import json
from pathlib import Path

from tests.gateway.harness import (
    NODES,
    PERIMETER,
    Broker,
    Pty,
    SimNode,
    Webhook,
    free_port,
    self_signed,
    serial,
    start,
    stop,
    wait_until,
    write_site,
)


async def test_every_alarm_reaches_milestone_and_the_webhook_even_those_raised_while_they_were_down(
    tmp_path: Path, broker: Broker
) -> None:
    vms_port, hook_port = free_port(), free_port()
    cert, key = self_signed(tmp_path)
    (tmp_path / "soc.token").write_text("s3cret\n")
    integrations = {
        "milestone": [
            {
                "name": "xprotect",
                "host": "127.0.0.1",
                "port": vms_port,
                "format": "international",
                "template": "Perimeter {category} {zone} {alarm_id}",
            }
        ],
        "webhook": [
            {
                "name": "soc",
                "url": "https://127.0.0.1:%d/perimeter" % hook_port,
                "ca_file": cert.name,
                "token_file": "soc.token",
            }
        ],
    }
    pty = Pty(tmp_path / "ttyFENCE")
    config = write_site(
        tmp_path,
        broker.port,
        transports=serial(("fence", pty.link)),
        nodes=NODES,
        extra=dict(PERIMETER, integration=integrations),
    )
    gateway, task = await start(config)
    vms: list[bytes] = []
    server = None
    hook = None
    try:
        pty.write(SimNode(2).fence(peak=3000))  # north
        await wait_until(lambda: len(gateway.alarms.book.alarms) == 1, 10)
        pty.write(SimNode(4).fence(peak=3000))  # east (105 m)
        await wait_until(lambda: len(gateway.alarms.book.alarms) == 2, 10)
        await asyncio.sleep(1.0)  # both integrations are down: it fails, and keeps them
        assert gateway.journal.deliveries_pending("xprotect") == 2 and gateway.journal.deliveries_pending("soc") == 2
        assert all(i.failures > 0 for i in gateway.integrations)

        async def vms_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            vms.append(await reader.read())
            writer.close()

        server = await asyncio.start_server(vms_connection, "127.0.0.1", vms_port)
        hook = Webhook(hook_port, cert, key)
        await wait_until(lambda: len(vms) == 2 and len(hook.received) == 2, 20)
        zones = [text.decode().split()[2] for text in vms]
        assert zones == ["north", "east"] and all(
            t.startswith(b"Perimeter intrusion ") and t.endswith(b"\r\n") for t in vms
        )
        assert [(r["action"], r["alarm"]["zone"]) for r in hook.received] == [("raised", "north"), ("raised", "east")]
        assert hook.authorizations == ["Bearer s3cret", "Bearer s3cret"]

        alarm_id = hook.received[0]["alarm"]["alarm_id"]  # type: ignore[index]
        gateway.requests.handle("j.smith", "ack", json.dumps({"alarm_id": alarm_id, "note": "seen"}).encode())
        await wait_until(lambda: len(hook.received) == 3, 10)
        assert hook.received[2]["action"] == "acknowledged" and len(vms) == 2  # Milestone gets raised/escalated only
        assert gateway.journal.deliveries_pending("xprotect") == 0 and gateway.journal.deliveries_pending("soc") == 0
    finally:
        if server is not None:
            server.close()
        if hook is not None:
            hook.close()
        await stop(gateway, task)
        pty.unplug()
