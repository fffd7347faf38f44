"""Real parts for gateway tests: a Mosquitto broker of their own, pseudo-terminals, a site
with its key file, accounts and config, simulated nodes that build real frames, a gateway
started and stopped in the test's own loop, an operator's MQTT console, what a newcomer to
the broker is told, and a self-signed certificate for the TLS specs. Spec modules import
these from here, never from each other."""

import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import threading
import time
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import aiomqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.alarming.request_guard import fresh
from gateway.config import load
from gateway.config_dump import dump
from gateway.daemon import Gateway
from gateway.identity.accounts import add_account, parse_accounts
from gateway.identity.site_key import write_site_key
from simulators.broker import Broker, free_port
from simulators.frame_node import SITE_ID, SITE_KEY, SimNode
from simulators.pty_link import Pty

__all__ = [
    "Broker",
    "ACCOUNTS",
    "Collector",
    "Webhook",
    "Console",
    "Pty",
    "SimNode",
    "free_port",
    "write_site",
    "SITE_ID",
    "SITE_KEY",
    "NODES",
    "PERIMETER",
    "PREFIX",
    "retained",
    "self_signed",
    "serial",
    "serial_transport",
    "start",
    "stop",
    "wait_until",
]


# Every test site's accounts, one per role (a test asks as whoever its story needs).
ACCOUNTS = {"j.smith": "operator", "s.jones": "supervisor", "e.wright": "engineer", "v.brown": "viewer"}
PASSWORD = "a long test password"


def write_accounts(path: Path, accounts: dict[str, str] | None = None) -> Path:
    listed = parse_accounts(path.read_text(encoding="utf-8")) if path.exists() else {}
    for name, role in (accounts or ACCOUNTS).items():
        if name not in listed:
            add_account(path, name, role, PASSWORD, n=2**10)  # cheap hashes: nobody logs in with these
    return path


def write_site(
    workdir: Path,
    broker_port: int,
    *,
    transports: dict[str, list[dict[str, Any]]] | None = None,
    nodes: list[int] | list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    heartbeat_s: int = 30,
    missed: int = 3,
    mqtt: dict[str, Any] | None = None,
) -> Path:
    """A site folder with its key file and a gateway config written by `dump()`; the
    config's path. `extra` adds tables (the perimeter, alarm rules, integrations)."""
    write_site_key(workdir / "site.key", SITE_KEY)
    write_accounts(workdir / "operators.txt")
    listed = nodes if nodes is not None else [1, 2, 3]
    doc: dict[str, Any] = {
        "site": {"id": SITE_ID, "name": "test", "key_file": "site.key"},
        "gateway": {"id": "gw", "journal": "journal.sqlite"},
        "supervision": {"missed_heartbeats": missed, "default_heartbeat_s": heartbeat_s},
        "metrics": {"listen": "127.0.0.1:0"},
        "mqtt": dict({"host": "127.0.0.1", "port": broker_port, "keepalive_s": 5}, **(mqtt or {})),
        "transport": transports or {},
        "node": [n if isinstance(n, dict) else {"id": n, "name": "n%d" % n} for n in listed],
        "dashboard": {"listen": "", "accounts_file": "operators.txt"},
        **(extra or {}),
    }
    config = workdir / "gateway.toml"
    config.write_text(dump(doc))
    return config


class Webhook:
    """An HTTPS server on loopback that records what is POSTed to it."""

    def __init__(self, port: int, cert: Path, key: Path) -> None:
        received = self.received = []  # type: list[dict[str, object]]
        self.authorizations: list[str | None] = []
        auths = self.authorizations

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                auths.append(self.headers.get("Authorization"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Background(ABC):
    """An MQTT client running in a task of its own while the `async with` lasts; `_run` sets
    `_ready` once it listens."""

    _task: "asyncio.Task[None] | None"
    _ready: asyncio.Event

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @abstractmethod
    async def _run(self) -> None:
        """Connect, subscribe, set `_ready`, and handle messages until cancelled."""


class Console(_Background):
    """An operator's MQTT console: requests on the account's own topic, each fresh (sent_at,
    a new nonce), answers back by transaction on the account's response topic."""

    def __init__(self, port: int, account: str = "j.smith", password: str | None = None, prefix: str = "") -> None:
        self.port = port
        self.account = account
        self.password = password  # None: an anonymous broker, as the test sites have
        self.prefix = prefix or PREFIX
        self.responses: dict[str, dict[str, Any]] = {}
        self._n = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _run(self) -> None:
        password = self.password
        async with aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier="console-" + self.account,
            username=self.account if password else None,
            password=password,
        ) as client:
            self.client = client
            await client.subscribe("%s/bridge/response/%s/+" % (self.prefix, self.account), qos=1)
            self._ready.set()
            async for message in client.messages:
                data = json.loads(message.payload)  # type: ignore[arg-type]
                self.responses[str(data["transaction"])] = data

    async def send(self, command: str, body: dict[str, Any], account: str | None = None, retain: bool = False) -> None:
        topic = "%s/bridge/request/%s/%s" % (self.prefix, account or self.account, command)
        await self.client.publish(topic, json.dumps(body).encode(), qos=1, retain=retain)

    async def request(self, command: str, /, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        self._n += 1
        transaction = "%s-t%d" % (self.account, self._n)
        await self.send(command, fresh(dict(fields, transaction=transaction), time.time()))
        await wait_until(lambda: transaction in self.responses, timeout)
        return self.responses[transaction]


class Collector(_Background):
    """An MQTT subscriber (aiomqtt) collecting messages under a topic filter."""

    def __init__(self, port: int, topic: str = "perimeter/#") -> None:
        self.port = port
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier="collector-%d" % os.getpid(), clean_session=False
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        payload = (
                            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                        )
                        self.messages.append((str(message.topic), payload, bool(message.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    def events(self, kind: str = "fence") -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.messages if t.endswith("/event/" + kind)]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                raise AssertionError(
                    "timed out; got %d messages: %s" % (len(self.messages), [t for t, _, _ in self.messages[-10:]])
                )
            await asyncio.sleep(0.02)


async def start(config: Path) -> tuple[Gateway, asyncio.Task[None]]:
    gateway = Gateway(load(config)).open()
    task = asyncio.create_task(gateway.run())
    await wait_until(lambda: all(t.state == "up" for t in gateway.transports.values()), 10)
    return gateway, task


async def stop(gateway: Gateway, task: asyncio.Task[None]) -> None:
    gateway.stop()
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        stacks = []
        for t in gateway._tasks:
            coro = t.get_coro()
            chain = []
            while coro is not None:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                chain.append("%s:%s" % (getattr(coro, "__qualname__", coro), frame.f_lineno if frame else "?"))
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            stacks.append(" -> ".join(chain))
        raise AssertionError("gateway did not stop: " + " | ".join(stacks))
    task.result()


async def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("condition not met within %.1f s" % timeout)
        await asyncio.sleep(0.02)


def serial_transport(name: str, port: Path) -> dict[str, Any]:
    return {"name": name, "port": str(port)}


def serial(*ports: tuple[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """The `transports` of a gateway reading these serial ports."""
    return {"serial": [serial_transport(name, port) for name, port in ports]}


PREFIX = "perimeter/test/gw"
PERIMETER: dict[str, Any] = {
    "perimeter": {
        "polyline": [[0, 0], [300, 0]],
        "zone": [
            {"name": "north", "start_m": 0, "end_m": 100, "priority": 2},
            {"name": "east", "start_m": 100, "end_m": 300},
        ],
    },
    "alarms": {"fence_window_s": 0.2},
}
NODES = [{"id": n, "name": "n%d" % n, "chainage_m": 15.0 + 30 * (n - 1)} for n in (1, 2, 3, 4)]


async def retained(port: int, topic: str = PREFIX + "/alarm/#", settle: float = 0.5) -> dict[str, dict[str, Any]]:
    """What a newcomer to the broker is told: the retained messages under `topic`."""
    found: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client("127.0.0.1", port, identifier="newcomer-%f" % time.time()) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(settle):
                async for message in client.messages:
                    if message.retain and message.payload:
                        found[str(message.topic)] = json.loads(message.payload)  # type: ignore[arg-type]
        except TimeoutError:
            pass
    return found


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "hook.pem", folder / "hook.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file
