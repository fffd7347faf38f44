"""Serving the dashboard: uvicorn inside the gateway's event loop.

The dashboard runs in the daemon's own loop, so it reads the gateway's state and calls its
operator desk with no locks and no copies. A port that cannot be bound, or TLS files that
cannot be loaded, leave the gateway running without a dashboard: the alarms must still flow.
"""

import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from gateway.config import DashboardConfig
from gateway.dashboard.accounts import AccountError, AccountFile
from gateway.dashboard.app import Dashboard
from gateway.dashboard.sessions import SessionStore

if TYPE_CHECKING:
    from gateway.daemon import Gateway

log = logging.getLogger("perimeter.dashboard")


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGTERM and SIGINT belong to the gateway, which stops us in turn


class DashboardServer:
    def __init__(self, gateway: "Gateway", config: DashboardConfig) -> None:
        self.gateway = gateway
        self.config = config
        self.address: tuple[str, int] | None = None
        self.sessions = SessionStore(idle_s=config.session_idle_s, absolute_s=config.session_max_s)
        self._server: _EmbeddedServer | None = None

    async def run(self) -> None:
        config = self.config
        try:
            accounts = AccountFile(config.accounts_file)
            host, port = config.host_port
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, reuse_port=False)
        except (AccountError, OSError) as exc:
            log.error("dashboard listen=%s not started: %s (the gateway runs on without it)", config.listen, exc)
            return
        self.address = sock.getsockname()[:2]
        app = Dashboard(self.gateway, accounts, self.sessions, secure=config.tls_cert is not None).app
        self._server = _EmbeddedServer(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ssl_certfile=config.tls_cert,
                ssl_keyfile=config.tls_key,
                timeout_graceful_shutdown=1,
                proxy_headers=False,
            )
        )
        log.info("dashboard on %s://%s:%d", "https" if config.tls_cert else "http", *self.address)
        try:
            await self._server.serve(sockets=[sock])
        except Exception:
            log.exception("dashboard stopped")
        finally:
            sock.close()

    def stop(self) -> None:
        self.gateway.feed.close()
        if self._server is not None:
            self._server.should_exit = True
