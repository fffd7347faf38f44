"""What the people running the gateway rely on: metrics over HTTP, systemd readiness,
an authenticated broker, and the retained state that says the bridge is online or not."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.gateway.harness import Broker, Collector, Pty, SimNode, serial, start, stop, wait_until, write_site

PERIMETER = str(Path(sys.executable).with_name("perimeter"))


async def test_prometheus_metrics_are_served_over_http(tmp_path: Path, broker: Broker) -> None:
    pty = Pty(tmp_path / "tty")
    gateway, task = await start(write_site(tmp_path, broker.port, transports=serial(("fence", pty.link))))
    pty.write(SimNode(1).fence() + b"\x05\x01\x02\x03\x04\x00")  # the second: line noise
    await wait_until(lambda: gateway.pipeline.counters["fence"]["bad_crc"] == 1)
    assert gateway.metrics.address is not None
    url = "http://%s:%d/metrics" % gateway.metrics.address
    body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())).decode()
    await stop(gateway, task)
    pty.unplug()
    assert 'perimeter_frames_total{result="frames_ok",transport="fence"} 1.0' in body
    assert 'perimeter_frames_total{result="bad_crc",transport="fence"} 1.0' in body
    assert 'perimeter_transport_up{kind="serial",transport="fence"} 1.0' in body
    assert "perimeter_outbox_depth" in body and 'perimeter_nodes{state="ok"} 3.0' in body


async def test_gateway_tells_systemd_it_is_ready_and_stops_cleanly_on_sigterm(tmp_path: Path, broker: Broker) -> None:
    config = write_site(tmp_path, broker.port)
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(15)
    proc = subprocess.Popen(
        [PERIMETER, "gateway", "run", "--config", str(config)],
        stderr=subprocess.PIPE,
        env=dict(os.environ, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="2000000"),
    )
    try:
        messages = {(await asyncio.to_thread(sock.recv, 100)).decode() for _ in range(2)}
        assert messages == {"READY=1", "WATCHDOG=1"}
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        proc.kill()
        sock.close()
    assert proc.returncode == 0 and b"Traceback" not in err


def password_broker(tmp_path: Path, *, anonymous: bool, gateway_password: str) -> Broker:
    """A started broker that knows user `gateway` with password `s3cret`; the gateway's
    password file holds `gateway_password`."""
    broker = Broker(tmp_path)
    passwords = tmp_path / "passwd"
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "gateway", "s3cret"], check=True)
    allow = "allow_anonymous %s\npassword_file %s" % ("true" if anonymous else "false", passwords)
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", allow))
    broker.start()
    (tmp_path / "mqtt.password").write_text(gateway_password + "\n")
    return broker


def with_credentials(workdir: Path, broker_port: int, **site: Any) -> Path:
    return write_site(workdir, broker_port, mqtt={"username": "gateway", "password_file": "mqtt.password"}, **site)


async def test_broker_with_passwords_accepts_the_gateway_and_its_last_will_says_offline(tmp_path: Path) -> None:
    broker = password_broker(tmp_path, anonymous=True, gateway_password="s3cret")
    config = with_credentials(tmp_path, broker.port)
    try:
        async with Collector(broker.port, "perimeter/test/gw/bridge/state") as mqtt:
            proc = subprocess.Popen([PERIMETER, "gateway", "run", "--config", str(config)], stderr=subprocess.DEVNULL)
            await mqtt.wait_for(lambda: (mqtt.messages or [("", b"", False)])[-1][1] == b"online")
            proc.kill()  # no clean disconnect: the broker publishes the last will
            proc.wait()
            await mqtt.wait_for(lambda: mqtt.messages[-1][1] == b"offline", timeout=20)
    finally:
        broker.stop()


async def test_wrong_broker_password_is_logged_and_retried_not_fatal(tmp_path: Path) -> None:
    broker = password_broker(tmp_path, anonymous=False, gateway_password="wrong")
    pty = Pty(tmp_path / "tty")
    config = with_credentials(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    try:
        gateway, task = await start(config)
        pty.write(SimNode(1).fence())
        await wait_until(lambda: gateway.journal.outbox_depth() == 1)  # journalled, waiting for a broker
        await wait_until(lambda: gateway.sink.failed_attempts >= 2)  # refused, and refused again
        assert not gateway.sink.connected and not task.done()
        await stop(gateway, task)
    finally:
        broker.stop()
        pty.unplug()


def make_tls_files(folder: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=perimeter test CA",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )


async def test_gateway_publishes_over_tls_and_refuses_a_broker_it_cannot_verify(tmp_path: Path) -> None:
    make_tls_files(tmp_path)
    broker = Broker(tmp_path)
    broker.conf.write_text(
        broker.conf.read_text()
        + "cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n" % (tmp_path, tmp_path, tmp_path)
    )
    broker.start()
    pty = Pty(tmp_path / "tty")
    config = write_site(tmp_path, broker.port, transports=serial(("fence", pty.link)))
    tls = config.read_text().replace("keepalive_s = 5", 'keepalive_s = 5\ntls = true\nca_file = "ca.pem"')
    try:
        config.write_text(tls)
        gateway, task = await start(config)
        pty.write(SimNode(1).fence())
        await wait_until(lambda: gateway.sink.published >= 1)
        await stop(gateway, task)
        # Trusting another CA, the gateway must not talk to this broker.
        (tmp_path / "other").mkdir()
        make_tls_files(tmp_path / "other")
        config.write_text(tls.replace('ca_file = "ca.pem"', 'ca_file = "other/ca.pem"'))
        gateway, task = await start(config)
        pty.write(SimNode(2).fence())
        await wait_until(lambda: gateway.journal.outbox_depth() == 1)
        await wait_until(lambda: gateway.sink.failed_attempts >= 2)  # refused, and refused again
        assert not gateway.sink.connected and gateway.sink.published == 0
        await stop(gateway, task)
    finally:
        broker.stop()
        pty.unplug()
