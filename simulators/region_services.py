"""The region's services of one's own, for specs, benches and demos: a RabbitMQ cluster (MQTT
plugin, TLS with client certificates, quorum queues) and a PostgreSQL server with PostGIS,
each on free loopback ports with its own data folder, started and stopped like the Mosquitto
broker in `simulators/broker.py`. They use Debian's packages (rabbitmq-server,
postgresql-15-postgis-3); `scripts/setup.sh` installs what is missing.

The cluster's nodes find each other at first boot from a fixed list (classic config peer
discovery), share an Erlang cookie in the cluster's folder, and each may be killed and
started again to stand for a regional node lost in the night.
"""

import getpass
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from simulators.broker import free_port, wait_for_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path("/usr/lib/postgresql/15/bin"))


def missing() -> list[str]:
    """What this machine lacks to run the region's services (Debian package names)."""
    found = []
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        found.append("rabbitmq-server")
    if not (PG_BIN / "initdb").exists():
        found.append("postgresql")
    if not list(Path("/usr/share/postgresql").glob("*/extension/postgis.control")):
        found.append("postgresql-15-postgis-3")
    return found


@dataclass
class RabbitNode:
    name: str  # the Erlang node name, e.g. region1@localhost
    amqp_port: int
    mqtt_port: int  # plain MQTT on loopback: the region's own tools, never a site
    mqtts_port: int  # MQTT over TLS with client certificates: where sites' bridges connect
    dist_port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None


class RabbitCluster:
    """`size` RabbitMQ nodes clustered on loopback. `tls` = (ca, certificate, key) files for
    the MQTT TLS listener; `definitions` = a JSON file of users and permissions loaded at boot."""

    def __init__(
        self, workdir: Path, size: int = 3, tls: tuple[Path, Path, Path] | None = None, definitions: Path | None = None
    ) -> None:
        self.folder = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        cookie = workdir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("PERIMETER%d" % int(time.time() * 1000))
            cookie.chmod(0o400)
        (workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (workdir / "rabbitmq-env.conf").write_text("")  # not the system node's settings
        stamp = os.getpid() % 10000
        self.nodes = [
            RabbitNode(
                "perimeter%d_%d@localhost" % (stamp, i + 1),
                free_port(),
                free_port(),
                free_port(),
                free_port(),
                workdir / ("node%d" % (i + 1)),
            )  # fmt: skip
            for i in range(size)
        ]
        for node in self.nodes:
            node.folder.mkdir(exist_ok=True)
            lines = [
                "listeners.tcp.default = 127.0.0.1:%d" % node.amqp_port,
                "mqtt.listeners.tcp.default = 127.0.0.1:%d" % node.mqtt_port,
                "cluster_formation.peer_discovery_backend = classic_config",
                *("cluster_formation.classic_config.nodes.%d = %s" % (i + 1, n.name) for i, n in enumerate(self.nodes)),
                "loopback_users = none",
                "log.console = false",
                "log.file.level = warning",
                "mqtt.allow_anonymous = false",
                "mqtt.vhost = /",
                "mqtt.exchange = amq.topic",
                # A quiet WAN link is noticed within a minute, and the site's bridge reconnects.
                "heartbeat = 30",
            ]
            if tls is not None:
                ca, cert, key = tls
                lines += [
                    "mqtt.listeners.ssl.default = 0.0.0.0:%d" % node.mqtts_port,
                    "ssl_options.cacertfile = %s" % ca,
                    "ssl_options.certfile = %s" % cert,
                    "ssl_options.keyfile = %s" % key,
                    "ssl_options.verify = verify_peer",
                    "ssl_options.fail_if_no_peer_cert = true",
                    "mqtt.ssl_cert_login = true",
                    "ssl_cert_login_from = common_name",
                ]
            if definitions is not None:
                lines.append("load_definitions = %s" % definitions)
            (node.folder / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    def _env(self, node: RabbitNode) -> dict[str, str]:
        return dict(
            os.environ,
            HOME=str(self.folder),  # where the Erlang cookie is
            RABBITMQ_CONF_ENV_FILE=str(self.folder / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_PORT=str(node.amqp_port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.folder / "log"),
            RABBITMQ_CONFIG_FILE=str(node.folder / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.folder / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(node.folder / "pid"),
        )

    def start_node(self, node: RabbitNode) -> None:
        env = self._env(node)
        env.pop("RABBITMQ_ALLOW_INPUT", None)
        with open(node.folder / "console.log", "ab") as out:
            node.proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip

    def start(self, timeout_s: float = 120.0) -> None:
        """Every node, then until all run as one cluster with their MQTT listeners up."""
        for i, node in enumerate(self.nodes):
            self.start_node(node)
            if i == 0:  # the first forms the cluster; the others join it (no race of seeds)
                wait_for_port(node.mqtt_port, timeout_s)
        for node in self.nodes:
            wait_for_port(node.mqtt_port, timeout_s)
        deadline = time.time() + timeout_s
        while len(self.running()) < len(self.nodes):
            if time.time() > deadline:
                raise RuntimeError("the RabbitMQ cluster did not form: %s" % self.running())
            time.sleep(0.5)
        for node in self.nodes:  # each port answered by its own node, not by something else
            if node.proc is None or node.proc.poll() is not None:
                raise RuntimeError("RabbitMQ node %s exited: see %s" % (node.name, node.folder / "console.log"))

    def ctl(self, *args: str, node: RabbitNode | None = None) -> str:
        node = node or next(n for n in self.nodes if n.proc is not None)
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args], env=self._env(node), capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError("rabbitmqctl %s: %s" % (" ".join(args), done.stderr.strip() or done.stdout.strip()))
        return done.stdout

    def running(self) -> list[str]:
        try:
            status = json.loads(self.ctl("cluster_status", "--formatter", "json"))
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return []
        return list(status.get("running_nodes", []))

    def kill(self, node: RabbitNode) -> None:
        """The node lost at once (SIGKILL: no goodbye to the cluster)."""
        if node.proc is not None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(10)
            node.proc = None

    def restart(self, node: RabbitNode, timeout_s: float = 120.0) -> None:
        self.start_node(node)
        wait_for_port(node.mqtt_port, timeout_s)

    def stop(self) -> None:
        for node in self.nodes:
            self.kill(node)

    @property
    def amqp_urls(self) -> list[str]:
        return ["amqp://region:%s@127.0.0.1:%d/" % (REGION_PASSWORD, n.amqp_port) for n in self.nodes]


REGION_PASSWORD = "region test password"


@dataclass
class Postgis:
    """A PostgreSQL server with PostGIS of one's own (its own port, folder and socket)."""

    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, timeout_s: float = 60.0) -> "Postgis":
        # The server refuses to run as root, and the postgres user cannot enter a test's
        # private folder: a folder of its own under the system's temporary directory.
        folder = Path(tempfile.mkdtemp(prefix="perimeter-pg-"))
        folder.chmod(0o755)
        data = folder / "data"
        as_user: list[str] = []
        if os.getuid() == 0:
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")
        owner = "postgres" if os.getuid() == 0 else getpass.getuser()
        subprocess.run(
            [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", owner, "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        server = cls(free_port(), folder)
        with open(folder / "server.log", "ab") as out:
            server.proc = subprocess.Popen(
                [*as_user, str(PG_BIN / "postgres"), "-D", str(data), "-p", str(server.port), "-k", str(folder),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        server.owner = owner
        wait_for_port(server.port, timeout_s)
        deadline = time.time() + timeout_s
        while subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
                             capture_output=True).returncode != 0:  # fmt: skip
            if time.time() > deadline:
                raise RuntimeError("PostgreSQL did not start: see %s" % (folder / "server.log"))
            time.sleep(0.1)
        return server

    owner: str = "postgres"

    def dsn(self, database: str = "postgres", user: str | None = None) -> str:
        return "postgresql://%s@127.0.0.1:%d/%s" % (user or self.owner, self.port, database)

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None
        shutil.rmtree(self.folder, ignore_errors=True)
