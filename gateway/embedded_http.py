"""An ASGI app served by uvicorn inside the gateway's own event loop (the dashboard, /metrics).

The gateway owns SIGTERM and SIGINT, so the embedded server never installs handlers of its
own; a port that cannot be bound is the caller's to report, and the gateway runs on."""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


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


def embedded(app: Any, **options: Any) -> EmbeddedServer:
    return EmbeddedServer(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            proxy_headers=False,
            **options,
        )
    )
