"""Home Assistant discovery against a real broker, when the site turns it on
(`mqtt.homeassistant_discovery`): every node and zone is announced retained with the keys Home
Assistant needs, and announced again when Home Assistant says `online` on
`homeassistant/status`. Off by default: a site's broker may serve other things, and retained
entities left there are litter."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.daemon import Gateway
from tests.gateway.harness import (
    NODES,
    PERIMETER,
    Broker,
    Collector,
    Pty,
    retained,
    serial,
    start,
    stop,
    wait_until,
    write_site,
)

REQUIRED = {"name", "unique_id", "state_topic", "availability", "device"}


@pytest.fixture
async def gateway(tmp_path: Path, broker: Broker) -> AsyncIterator[Gateway]:
    pty = Pty(tmp_path / "ttyFENCE")
    config = write_site(
        tmp_path,
        broker.port,
        transports=serial(("fence", pty.link)),
        nodes=NODES,
        extra=PERIMETER,
        mqtt={"homeassistant_discovery": True},
    )
    gw, task = await start(config)
    await wait_until(lambda: gw.sink.connected, 10)
    yield gw
    await stop(gw, task)
    pty.unplug()


async def announced(port: int, expected: int = 26) -> dict[str, dict[str, Any]]:
    """The retained discovery messages, once the gateway has published them all."""
    for _ in range(20):
        configs = await retained(port, "homeassistant/#", settle=0.5)
        if len(configs) >= expected:
            break
    return configs


async def test_every_node_and_zone_is_announced_retained_with_the_keys_home_assistant_needs(
    gateway: Gateway, broker: Broker
) -> None:
    configs = await announced(broker.port)
    platforms = sorted(topic.split("/")[1] for topic in configs)
    # 4 nodes x (tamper, connectivity, problem) + 4 x (fence, acoustic, impact) + 2 zones
    assert platforms.count("binary_sensor") == 12 and platforms.count("event") == 12 and platforms.count("sensor") == 2
    for topic, config in configs.items():
        assert REQUIRED <= set(config), (topic, sorted(config))
        assert (
            config["device"]["identifiers"] and config["availability"][0]["topic"] == "perimeter/test/gw/bridge/state"
        )
        platform = topic.split("/")[1]
        if platform == "binary_sensor":
            assert config["device_class"] in ("tamper", "connectivity", "problem") and config["expire_after"] == 90
        if platform == "event":
            assert config["event_types"] and config["state_topic"].startswith("perimeter/test/gw/node/")
        if platform == "sensor":
            assert config["options"] == ["clear", "alarm", "acknowledged", "masked"]
    unique = [c["unique_id"] for c in configs.values()]
    assert len(set(unique)) == len(unique)
    zones = await retained(broker.port, "perimeter/test/gw/zone/+/state")
    assert {z["zone"]: z["state"] for z in zones.values()} == {"north": "clear", "east": "clear"}


async def test_discovery_is_published_again_when_home_assistant_comes_online(gateway: Gateway, broker: Broker) -> None:
    async with Collector(broker.port, "homeassistant/+/+/config") as seen:
        await wait_until(lambda: len(seen.messages) >= 26, 10)  # the retained ones, on subscribing
        await asyncio.sleep(0.5)
        before = len(seen.messages)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="home-assistant") as ha:
            await ha.publish("homeassistant/status", b"online", qos=1)
        await wait_until(lambda: len(seen.messages) >= before + 26, 10)
    again = [json.loads(p) for _, p, _ in seen.messages[before:]]
    assert {c["unique_id"] for c in again} >= {"perimeter_test_node_1_tamper", "perimeter_test_zone_north"}
    assert gateway.sink.republished == 1


async def test_a_site_that_did_not_ask_announces_nothing_to_home_assistant(tmp_path: Path, broker: Broker) -> None:
    pty = Pty(tmp_path / "ttyFENCE")
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)), nodes=NODES, extra=PERIMETER)
    gw, task = await start(config)
    try:
        await wait_until(lambda: gw.sink.connected, 10)
        assert await retained(broker.port, "perimeter/test/gw/zone/#", settle=1.0)  # the gateway published
        assert await retained(broker.port, "homeassistant/#", settle=0.5) == {}
    finally:
        await stop(gw, task)
        pty.unplug()
