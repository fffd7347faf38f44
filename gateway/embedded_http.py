"""An ASGI app served by uvicorn inside the gateway's own event loop (the dashboard, /metrics).

The gateway owns SIGTERM and SIGINT, so the embedded server never installs handlers of its
own; a port that cannot be bound is the caller's to report, and the gateway runs on. Every
connection passes a `ConnectionGate` (`connection_gate.py`) in uvicorn's own protocol: the
web never takes the descriptors and the time the radio path needs."""

import asyncio
import contextlib
import fcntl
import logging
import os
import resource
import socket
import struct
from collections import deque
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.connection_gate import ConnectionGate, GateLimits, header_complete


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGTERM and SIGINT belong to the gateway, which stops us in turn


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv6 when the host is); OSError if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, reuse_port=False)


_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset, keeps no state


class GatedListener(socket.socket):
    """A listening socket whose accept() turns away what the gate would refuse before asyncio
    builds a transport and uvicorn a protocol for it.

    A refused connection is not closed at once: it goes into a tarpit, held open and never
    read (no transport, no task, nothing on the event loop), and is reset only when the tarpit
    is full and newer ones come. A client that reconnects the moment it is dropped (the
    flood's way) so waits on a connection that never answers instead of costing the gateway
    an accept() and a reset thousands of times a second."""

    gate: ConnectionGate
    tarpit: "deque[socket.socket]"
    room: int

    @classmethod
    def wrap(cls, sock: socket.socket, gate: ConnectionGate) -> "GatedListener":
        listener = cls(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))  # the caller's stays valid
        listener.gate = gate
        listener.tarpit = deque()
        # Never more than a quarter of the descriptors the process may have (1,024 unraised).
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        listener.room = min(gate.limits.tarpit, soft // 4 if soft > 2 * SELECT_LIMIT else 128)
        return listener

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            conn, address = super().accept()  # BlockingIOError when none is waiting: asyncio's to handle
            conn = _above_select(conn)
            peer = str(address[0]) if address else "-"
            if not self.gate.full(peer):
                return conn, address
            self.gate.turned_away()
            self.tarpit.append(conn)
            if len(self.tarpit) > self.room:
                _reset(self.tarpit.popleft())

    def close(self) -> None:
        while getattr(self, "tarpit", None):
            _reset(self.tarpit.popleft())
        super().close()


SELECT_LIMIT = 1024  # FD_SETSIZE: pyserial waits on its port with select(), which takes no higher descriptor


def _above_select(conn: socket.socket) -> socket.socket:
    """The connection moved to a descriptor above select()'s range when the process has room:
    the kernel hands out the lowest free descriptor, and a serial port reopened behind a
    thousand web connections would get one pyserial cannot wait on (asyncio's epoll takes any)."""
    try:
        high = fcntl.fcntl(conn.fileno(), fcntl.F_DUPFD_CLOEXEC, SELECT_LIMIT)
    except OSError:
        return conn  # no room up there (an unraised limit): keep it where it is
    moved = socket.socket(conn.family, conn.type, conn.proto, fileno=high)
    conn.close()
    return moved


def _reset(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    conn.close()


async def serve(server: EmbeddedServer, sock: socket.socket, log: logging.Logger, what: str) -> None:
    """Serve until stopped; a failure is logged as `what` stopping, never raised into the
    gateway (cancellation still is)."""
    gate = getattr(server, "gate", None)
    listener = GatedListener.wrap(sock, gate) if gate is not None else sock
    try:
        await server.serve(sockets=[listener])
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s stopped", what)
    finally:
        listener.close()
        sock.close()


def gated(gate: ConnectionGate, log: logging.Logger) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol behind `gate`: a connection over the caps is reset when it
    is accepted, and one whose header does not end in time is closed."""

    class Gated(H11Protocol):
        _admitted = False
        _deadline: asyncio.TimerHandle | None = None
        _tail = b""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            self._address = str(peer[0]) if peer else "-"
            if not gate.admit(self._address):
                transport.abort()  # nothing read, no task: the cheapest no there is
                self._told()
                return
            self._admitted = True
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if not self._admitted:
                return
            complete, self._tail, _trailing = header_complete(self._tail, data)
            if complete:
                self._disarm()  # a header ended: its body, if any, gets its own time from now
            self._arm()  # at the deadline, `_too_slow` looks at what the connection is doing
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self._admitted:
                return
            self._admitted = False
            self._disarm()
            gate.release(self._address)
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(gate.limits.header_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete and not cycle.more_body:
                return  # a whole request being answered (a page's live stream): never cut
            # No request yet, half a header, a body that never came, or an idle keep-alive.
            gate.dawdled()
            self.transport.abort()
            self._told()

        def _told(self) -> None:
            line = gate.report(self.loop.time())
            if line is not None:
                log.warning("web: %s", line)

    return Gated


def embedded(
    app: Any, log: logging.Logger | None = None, limits: GateLimits | None = None, **options: Any
) -> EmbeddedServer:
    gate = ConnectionGate(limits or GateLimits())
    server = EmbeddedServer(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            proxy_headers=False,
            http=gated(gate, log or logging.getLogger("perimeter.gateway")),
            **options,
        )
    )
    server.gate = gate  # type: ignore[attr-defined]
    return server
