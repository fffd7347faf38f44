"""A Mosquitto broker of one's own, on a free loopback port, for tests, benches and demos."""

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Until a broker (or anything) accepts connections on the loopback port."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start on port %d" % port)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """`count` different free ports (each held until all are chosen: free_port() called twice
    in a row may give the same one)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Broker:
    """A Mosquitto broker on a port of its own, which a test can stop and start again."""

    def __init__(self, workdir: Path, extra: str = "") -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        # Persistence on, so a subscriber's session and its queued QoS 1 messages survive a
        # broker restart: an outage test must not depend on who reconnects first. TCP_NODELAY,
        # or Nagle holds back small PUBACKs for tens of ms. As root, Mosquitto would drop to its
        # own user and could not read the test's private folder: stay who we are.
        user = "user %s\n" % getpass.getuser() if os.getuid() == 0 else ""
        self.conf.write_text(
            "%slistener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"
            "max_queued_messages 100000\nset_tcp_nodelay true\n%s" % (user, self.port, workdir, extra)
        )
        self.proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.binary = binary

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # stuck (a bridge mid-handshake): its queue is on disk
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
