"""An ASGI app served by uvicorn inside the gateway's own event loop (the dashboard, /metrics).

The gateway owns SIGTERM and SIGINT, so the embedded server never installs handlers of its
own; a port that cannot be bound is the caller's to report, and the gateway runs on. Every
connection passes a `ConnectionGate` (`connection_gate.py`) in uvicorn's own protocol: the
web never takes the descriptors and the time the radio path needs."""

import asyncio
import contextlib
import logging
import socket
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


async def serve(server: EmbeddedServer, sock: socket.socket, log: logging.Logger, what: str) -> None:
    """Serve until stopped; a failure is logged as `what` stopping, never raised into the
    gateway (cancellation still is)."""
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s stopped", what)
    finally:
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
