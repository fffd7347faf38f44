"""Telling systemd how the daemon is (Type=notify, WatchdogSec=): outside systemd, nothing.

The protocol is one datagram per state on the socket systemd names in `NOTIFY_SOCKET`
(sd_notify(3)); a dozen lines do not justify a dependency."""

import asyncio
import contextlib
import os
import socket

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"


def notify(state: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


def watchdog_interval_s() -> float:
    """Half of systemd's WatchdogSec (as sd_watchdog_enabled(3) advises), 10 s outside it."""
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2e6 if usec and usec.isdigit() else 10.0


async def keep_watchdog_fed() -> None:
    """Pet the watchdog while the event loop runs: a wedged loop gets the daemon restarted."""
    interval = watchdog_interval_s()
    while True:
        notify(WATCHDOG)
        await asyncio.sleep(interval)
