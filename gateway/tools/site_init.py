"""`perimeter site init DIR`: a ready-to-run site, written all at once or not at all.

In DIR (the config, e.g. `/etc/perimeter`; the daemon only reads it):
- `site.key`: a new random site key;
- `operators.txt`: the accounts, with a first supervisor;
- `broker/`: Mosquitto's config (no anonymous clients), its password file (the supervisor
  and the gateway's own user) and ACL (each account publishes requests under its own name
  only; `gateway/identity/broker_accounts.py`), and the gateway's broker password;
- `witness.key` / `witness.pub`: the Ed25519 key that signs the journal's checkpoints
  (`gateway/evidence/witness.py`; the public half for whoever verifies);
- `gateway.toml`: the gateway's config, pointing at all of it, with the dashboard on loopback;
- `systemd/`: `perimeter-gateway.service` and `perimeter-mosquitto.service` (names that agree:
  the gateway waits for its broker) and `perimeter.sysusers`, which makes the service user.

In the state directory (`--state-dir`, default `/var/lib/perimeter`; the only place the units
let the daemons write): the journal, the node keys, the revocations and the broker's
persistence, all named in gateway.toml and the units.

Every file is mode 600 and every folder 700: the service user reads them and nobody else does.
Run as root with that user made (`systemd-sysusers`), site init gives them to it; otherwise it
says what to run. Everything is written into a folder beside DIR and renamed into place at the
end, so a failed init leaves nothing behind; a DIR that already holds files is refused, with
what it holds. Nodes, the perimeter and its zones are then added to gateway.toml (the template
says how).
"""

import os
import pwd
import re
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.config_dump import dump
from gateway.evidence.witness import new_key
from gateway.identity.accounts import add_account
from gateway.identity.broker_accounts import GATEWAY_USER, broker_folder, write_broker_files
from gateway.identity.site_key import write_site_key
from gateway.outputs import topics
from gateway.site_plan import time_zone
from gateway.tools.region_bridge import RegionLink, bridge_conf, broker_settings


class SiteInitError(Exception):
    """A clear message for the installer."""


def _private(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class OffHostWitness:
    """Where the journal's checkpoints go off the gateway host (`gateway/evidence/witness.py`): a
    syslog collector, an HTTPS webhook, or, explicitly, nowhere (journalled at every start)."""

    syslog: str = ""  # host:port
    webhook: str = ""  # https://...
    none: bool = False

    def check(self) -> None:
        chosen = [bool(self.syslog), bool(self.webhook), self.none]
        if sum(chosen) != 1:
            raise SiteInitError(
                "name one witness off this host for the journal's checkpoints: --witness-syslog HOST:PORT (a "
                "collector the gateway's administrators do not run) or --witness-webhook https://..., or say "
                "--no-off-host-witness to run without one (journalled at every start)"
            )
        if self.syslog and not self.syslog.rpartition(":")[2].isdigit():
            raise SiteInitError("--witness-syslog: expected HOST:PORT, got %r" % self.syslog)
        if self.webhook and not self.webhook.startswith("https://"):
            raise SiteInitError("--witness-webhook: expected an https:// URL, got %r" % self.webhook)


@dataclass(frozen=True)
class Layout:
    """Where a site lives on its server, and who runs it."""

    config: Path  # read only to the daemons
    state: Path = Path("/var/lib/perimeter")  # all they write
    user: str = "perimeter"
    executable: str = ""  # the perimeter command the gateway unit runs (default: this one)
    mosquitto: str = "/usr/sbin/mosquitto"
    timezone: str = "UTC"  # the site's clock: what the dashboard and the reports show

    def substitute(self, text: str) -> str:
        for word, value in (
            ("@CONFIG@", str(self.config)),
            ("@STATE@", str(self.state)),
            ("@USER@", self.user),
            ("@PERIMETER@", self.executable or _this_perimeter()),
            ("@MOSQUITTO@", self.mosquitto),
        ):
            text = text.replace(word, value)
        return text


def _this_perimeter() -> str:
    """The `perimeter` of the environment this runs in (the venv the package is installed in)."""
    beside = Path(sys.executable).with_name("perimeter")
    return str(beside if beside.exists() else shutil.which("perimeter") or "/usr/local/bin/perimeter")


def init_site(
    folder: Path,
    name: str,
    site_id: int,
    supervisor: str,
    password: str,
    mqtt_port: int = 1883,
    witness: OffHostWitness | None = None,
    layout: Layout | None = None,
    region: RegionLink | None = None,
) -> list[Path]:
    """Write the site; the files written (in their final places)."""
    layout = replace(layout or Layout(folder), config=folder.resolve())
    layout = replace(layout, state=layout.state.resolve())
    folder = layout.config
    if not USERNAME.fullmatch(layout.user):
        raise SiteInitError("--user: %r is not a user name" % layout.user)
    try:
        time_zone(layout.timezone)
    except ValueError as exc:
        raise SiteInitError("--timezone: %s" % exc) from None
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise SiteInitError(
            "%s already exists%s: nothing was written (a site is initialised once; choose another folder, or "
            "remove this one if it is a failed attempt)" % (folder, " and holds " + ", ".join(held[:8]) if held else "")
        )
    if (layout.state / "journal.sqlite").exists():
        raise SiteInitError(
            "%s already holds a journal (another site's?): nothing was written; --state-dir names a folder of "
            "this site's own" % layout.state
        )
    witness = witness or OffHostWitness()
    witness.check()  # before anything is written
    if region is not None:
        _check_region(region, name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".%s.partial-" % folder.name, dir=folder.parent))
    try:
        names = _write(staging, layout, name, site_id, supervisor, password, mqtt_port, witness, region)
        for state in (layout.state, layout.state / "mosquitto"):
            state.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging.rename(folder)  # an empty DIR is replaced; it is all there, or none of it
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / n for n in names] + [layout.state]


def give_to_service_user(layout: Layout) -> bool:
    """Files 600 and folders 700; as root, with the service user made, owned by it. Whether they
    are now the service user's."""
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(layout.user)
            owner = (entry.pw_uid, entry.pw_gid)
        except KeyError:
            pass
    for top in (layout.config, layout.state):
        for path in [top, *top.rglob("*")]:
            path.chmod(0o700 if path.is_dir() else 0o600)
            if owner is not None:
                os.chown(path, *owner)
    return owner is not None


def _write(
    staging: Path,
    layout: Layout,
    name: str,
    site_id: int,
    supervisor: str,
    password: str,
    mqtt_port: int,
    witness: OffHostWitness,
    region: RegionLink | None = None,
) -> list[str]:
    """Every file of the config folder, written into `staging` with the paths of its final place."""
    os.chmod(staging, 0o700)
    write_site_key(staging / "site.key", os.urandom(32))
    accounts = staging / "operators.txt"
    add_account(accounts, supervisor, "supervisor", password)
    broker = broker_folder(accounts)
    prefix = topics.prefix("perimeter", name, "gw1")
    write_broker_files(accounts, prefix, GATEWAY_USER, gateway_password := secrets.token_urlsafe(24))
    write_broker_files(accounts, prefix, supervisor, password)
    _private(broker / "gateway.password", gateway_password)
    conf = mosquitto_conf(layout.config / "broker", mqtt_port, layout.state / "mosquitto", bridged=region is not None)
    _private(broker / "mosquitto.conf", conf)
    new_key(staging / "witness.key", staging / "witness.pub")  # the public half goes to whoever verifies
    witness_table: dict[str, object] = {"key_file": "witness.key"}
    state = layout.state
    doc = {
        "site": {
            "id": site_id,
            "name": name,
            "key_file": "site.key",
            # Written by the gateway at a key change: in the state directory, the one it may write.
            "node_keys_file": str(state / "node-keys.json"),
            "revocations_file": str(state / "revocations.json"),
            "timezone": layout.timezone,
        },
        "gateway": {"id": "gw1", "journal": str(state / "journal.sqlite")},
        "mqtt": {"port": mqtt_port, "username": GATEWAY_USER, "password_file": "broker/gateway.password"},
        "dashboard": {"listen": "127.0.0.1:8080", "accounts_file": "operators.txt"},
        # Checkpoints go to the broker as they are, and to the witness off this host that
        # the gateway's own administrators cannot rewrite.
        "witness": witness_table,
    }
    if witness.syslog:
        witness_table["syslog"] = witness.syslog
    elif witness.webhook:
        doc["integration"] = {"webhook": [{"name": "witness", "url": witness.webhook, "actions": [], "witness": True}]}
    else:
        witness_table["off_host"] = False  # the explicit choice, journalled at every start
    if region is not None:
        doc["region"] = _write_region(staging, layout, name, region)
    _private(staging / "gateway.toml", dump(doc))
    units = staging / "systemd"
    units.mkdir(mode=0o700)
    for unit in UNITS:
        _private(units / unit, layout.substitute(resources.files("gateway.units").joinpath(unit).read_text()))
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())


UNITS = ("perimeter-gateway.service", "perimeter-mosquitto.service", "perimeter.sysusers")
USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")


def _check_region(region: RegionLink, name: str) -> None:
    try:
        region.check()
        cert = x509.load_pem_x509_certificate(region.cert_file.read_bytes())
    except ValueError as exc:
        raise SiteInitError(str(exc)) from None
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [name]:
        raise SiteInitError(
            "--region-cert: the certificate is for %s, not this site (%s): the region logs a site in by its "
            "certificate's name; ask the region for this site's" % (", ".join(names) or "no name", name)
        )


def _write_region(staging: Path, layout: Layout, name: str, region: RegionLink) -> dict[str, object]:
    """The region's files and the bridge to it; the gateway's [region] table."""
    files = staging / "region"
    files.mkdir(mode=0o700)
    for source, target in ((region.ca_file, "ca.pem"), (region.cert_file, "site.pem"), (region.key_file, "site.key")):
        _private(files / target, source.read_text())
    included = staging / "broker" / "conf.d"
    included.mkdir(mode=0o700)
    _private(included / "region.conf", broker_settings() + bridge_conf(name, region, layout.config / "region"))
    table: dict[str, object] = {"incidents": True, "share_staff_names": region.share_staff_names}
    if region.origin is not None:
        table.update(origin_lon=region.origin[0], origin_lat=region.origin[1])
    return table


def mosquitto_conf(broker: Path, port: int, persistence: Path, host: str = "127.0.0.1", bridged: bool = False) -> str:
    return "\n".join(
        [
            "# Written by perimeter site init. Only accounts in the password file connect;",
            "# each publishes requests under its own name only (acl).",
            "per_listener_settings false",
            "allow_anonymous false",
            "password_file %s" % (broker / "passwords"),
            "acl_file %s" % (broker / "acl"),
            "listener %d %s" % (port, host),
            "persistence true",
            "persistence_location %s/" % persistence,
            *(["include_dir %s" % (broker / "conf.d")] if bridged else []),  # the bridge to the region
            "",
        ]
    )
