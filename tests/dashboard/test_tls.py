"""A dashboard reachable from the network speaks only HTTPS: with a certificate and key it
listens on every address, marks its cookie Secure and sends HSTS; plain HTTP gets nowhere."""

import asyncio
import datetime
import ipaddress
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.dashboard.site import OPERATOR, Client, running_site


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, as an installer's own CA would issue one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perimeter-gateway")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "dashboard.pem", folder / "dashboard.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


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
