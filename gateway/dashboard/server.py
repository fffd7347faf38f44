"""Serving the dashboard: uvicorn inside the gateway's event loop.

The dashboard runs in the daemon's own loop, so it reads the gateway's state and calls its
operator desk with no locks and no copies. A port that cannot be bound, or TLS files that
cannot be loaded, leave the gateway running without a dashboard: the alarms must still flow.
"""

import logging

from gateway.config import DashboardConfig
from gateway.dashboard.app import Dashboard
from gateway.dashboard.sessions import SessionStore
from gateway.dashboard.site import Site
from gateway.dashboard.state import DashboardState
from gateway.embedded_http import EmbeddedServer, bind, embedded, serve
from gateway.identity.accounts import AccountError, AccountFile

log = logging.getLogger("perimeter.dashboard")


class DashboardServer:
    def __init__(self, site: Site, live: DashboardState, config: DashboardConfig) -> None:
        self.site = site
        self.live = live
        self.config = config
        self.address: tuple[str, int] | None = None
        self.sessions = SessionStore(idle_s=config.session_idle_s, absolute_s=config.session_max_s)
        self._server: EmbeddedServer | None = None
        self.app: Dashboard | None = None

    async def run(self) -> None:
        config = self.config
        try:
            accounts = AccountFile(config.accounts_file)
            sock = bind(*config.host_port)
        except (AccountError, OSError) as exc:
            log.error("dashboard listen=%s not started: %s (the gateway runs on without it)", config.listen, exc)
            return
        self.address = sock.getsockname()[:2]
        self.app = Dashboard(self.site, self.live, accounts, self.sessions, secure=config.tls_cert is not None)
        app = self.app.app
        self._server = embedded(app, ssl_certfile=config.tls_cert, ssl_keyfile=config.tls_key)
        log.info("dashboard on %s://%s:%d", "https" if config.tls_cert else "http", *self.address)
        await serve(self._server, sock, log, "the dashboard")

    def stop(self) -> None:
        if self.app is not None:
            self.app.journal_refusals(everything=True)  # what the last windows counted
        self.live.feed.close()
        if self._server is not None:
            self._server.should_exit = True
