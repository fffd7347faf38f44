"""A dashboard reachable from the network speaks only HTTPS: with a certificate and key it
listens on every address, marks its cookie Secure and sends HSTS; plain HTTP gets nowhere."""

import asyncio
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.site import OPERATOR, Client, running_site
from tests.gateway.harness import self_signed


async def test_over_the_network_the_dashboard_is_https_with_secure_cookies(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with running_site(tmp_path, tls=(cert, key)) as site:
        assert site.url.startswith("https://")
        assert site.gateway.dashboard is not None and site.gateway.dashboard.address is not None
        assert site.gateway.dashboard.address[0] == "0.0.0.0"
        trusted = ssl.create_default_context(cafile=str(cert))
        alice = Client(site.url, trusted)
        status, _ = await alice.login(*OPERATOR)
        assert status == 200
        cookie = next(iter(alice.jar))
        assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
        assert (await alice.get("/api/snapshot"))[0] == 200

        def headers() -> str:
            with urllib.request.urlopen(site.url + "/login", context=trusted, timeout=5) as response:
                return str(response.headers.get("Strict-Transport-Security"))

        assert "max-age=" in await asyncio.to_thread(headers)

        def plain_http() -> None:
            urllib.request.urlopen(site.url.replace("https", "http") + "/login", timeout=5)

        with pytest.raises((urllib.error.URLError, ConnectionError)):
            await asyncio.to_thread(plain_http)

        untrusted = Client(site.url)  # a certificate nobody vouched for is not accepted silently
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.get("/login")
