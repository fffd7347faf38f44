"""Prometheus metrics of a running gateway, with the maintained `prometheus_client`.

The collector reads the gateway's figures when /metrics is scraped (nothing is counted
twice), and the exposition is prometheus_client's ASGI app, served by uvicorn inside the
gateway's loop: reading the figures needs no lock. A port that cannot be bound leaves the
gateway running without metrics: the alarms must still flow."""

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import generate_latest, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from gateway.embedded_http import EmbeddedServer, bind, embedded, serve

log = logging.getLogger("perimeter.metrics")


class Link(Protocol):
    kind: str
    state: str
    reconnects: int


class Observed(Protocol):
    """What the metrics read off a gateway."""

    @property
    def transports(self) -> Mapping[str, Link]: ...

    @property
    def counters(self) -> Mapping[str, int]: ...

    def health(self) -> dict[str, Any]: ...


class GatewayCollector(Collector):
    def __init__(self, gateway: Observed) -> None:
        self.gateway = gateway

    def collect(self) -> Iterator[Metric]:
        health = self.gateway.health()
        frames = CounterMetricFamily(
            "perimeter_frames", "Frames received, by transport and result.", labels=["transport", "result"]
        )
        for transport, results in sorted(health["frames"].items()):
            for result, count in results.items():
                frames.add_metric([transport, result], count)
        yield frames
        links = sorted(self.gateway.transports.items())
        up = GaugeMetricFamily(
            "perimeter_transport_up", "1 while the transport is connected.", labels=["transport", "kind"]
        )
        reconnects = CounterMetricFamily(
            "perimeter_transport_reconnects", "Times a transport was lost after being up.", labels=["transport"]
        )
        for name, link in links:
            up.add_metric([name, link.kind], 1.0 if link.state == "up" else 0.0)
            reconnects.add_metric([name], link.reconnects)
        yield up
        yield reconnects
        yield GaugeMetricFamily(
            "perimeter_outbox_depth", "MQTT messages awaiting the broker's PUBACK.", value=health["outbox_depth"]
        )
        nodes = GaugeMetricFamily("perimeter_nodes", "Nodes by supervision state.", labels=["state"])
        for state, count in dict({"ok": 0, "comm_fail": 0}, **health["supervision"]).items():
            nodes.add_metric([state], count)
        yield nodes
        yield GaugeMetricFamily(
            "perimeter_mqtt_connected",
            "1 while connected to the broker.",
            value=1.0 if health["mqtt_connected"] else 0.0,
        )
        yield CounterMetricFamily(
            "perimeter_mqtt_reconnects", "Broker connections lost.", value=health["mqtt_reconnects"]
        )
        for name, value in sorted(self.gateway.counters.items()):
            yield CounterMetricFamily("perimeter_" + name, "Gateway %s." % name.replace("_", " "), value=value)


class Metrics:
    """The gateway's metrics registry and, if `listen` is set, its /metrics endpoint."""

    def __init__(self, gateway: Observed, listen: str | None) -> None:
        self.listen = listen
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GatewayCollector(gateway))
        self.address: tuple[str, int] | None = None
        self._server: EmbeddedServer | None = None

    def text(self) -> str:
        """The Prometheus exposition, as a scrape would get it."""
        return generate_latest(self.registry).decode()

    async def run(self) -> None:
        if not self.listen:
            return
        host, _, port = self.listen.rpartition(":")
        try:
            sock = bind(host.strip("[]") or "127.0.0.1", int(port))
        except OSError as exc:
            log.error("metrics listen=%s failed: %s (running without metrics)", self.listen, exc)
            return
        self.address = sock.getsockname()[:2]
        metrics = make_asgi_app(self.registry)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/metrics":
                await metrics(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"see /metrics\n"})

        self._server = embedded(app)
        await serve(self._server, sock, log, "the metrics endpoint")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
