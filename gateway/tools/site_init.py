"""`perimeter site init DIR`: a ready-to-run site in one folder.

- `site.key`: a new random site key (chmod 600);
- `operators.txt`: the accounts, with a first supervisor;
- `broker/`: Mosquitto's config (no anonymous clients), its password file (the supervisor
  and the gateway's own user) and ACL (each account publishes requests under its own name
  only; `gateway/identity/broker_accounts.py`), and the gateway's broker password (chmod 600);
- `witness.key` / `witness.pub`: the Ed25519 key that signs the journal's checkpoints
  (`gateway/evidence/witness.py`; the private half chmod 600, the public half for whoever verifies);
- `gateway.toml`: the gateway's config, pointing at all of it, with the dashboard on
  loopback;
- `systemd/`: units for the broker and the gateway, with this folder's paths.

Nothing is overwritten: a folder that already holds a gateway.toml is refused. Nodes, the
perimeter and its zones are then added to gateway.toml (the template says how).
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gateway.config_dump import dump
from gateway.evidence.witness import new_key
from gateway.identity.accounts import add_account
from gateway.identity.broker_accounts import GATEWAY_USER, broker_folder, write_broker_files
from gateway.identity.site_key import write_site_key
from gateway.outputs import topics

ROOT = Path(__file__).resolve().parents[2]


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


def init_site(
    folder: Path,
    name: str,
    site_id: int,
    supervisor: str,
    password: str,
    mqtt_port: int = 1883,
    witness: OffHostWitness | None = None,
) -> list[Path]:
    """Write the site; the files written."""
    folder = folder.resolve()
    if (folder / "gateway.toml").exists():
        raise SiteInitError("%s already holds a gateway.toml: nothing was written" % folder)
    witness = witness or OffHostWitness()
    witness.check()  # before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_site_key(folder / "site.key", os.urandom(32))]
    accounts = folder / "operators.txt"
    add_account(accounts, supervisor, "supervisor", password)
    written.append(accounts)
    broker = broker_folder(accounts)
    prefix = topics.prefix("perimeter", name, "gw1")
    write_broker_files(accounts, prefix, GATEWAY_USER, gateway_password := secrets.token_urlsafe(24))
    write_broker_files(accounts, prefix, supervisor, password)
    written += [broker / "passwords", broker / "acl"]
    written.append(_private(broker / "gateway.password", gateway_password))
    written.append(_private(broker / "mosquitto.conf", mosquitto_conf(broker, mqtt_port)))
    new_key(folder / "witness.key", folder / "witness.pub")  # the public half goes to whoever verifies
    written += [folder / "witness.key", folder / "witness.pub"]
    witness_table: dict[str, object] = {"key_file": "witness.key"}
    doc = {
        "site": {"id": site_id, "name": name, "key_file": "site.key"},
        "gateway": {"id": "gw1", "journal": "journal.sqlite"},
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
    written.append(_private(folder / "gateway.toml", dump(doc)))
    units = folder / "systemd"
    units.mkdir(exist_ok=True)
    gateway_unit = (ROOT / "deploy" / "perimeter-gateway.service").read_text(encoding="utf-8")
    gateway_unit = gateway_unit.replace("/etc/perimeter/gateway.toml", str(folder / "gateway.toml"))
    written.append(_private(units / "perimeter-gateway.service", gateway_unit))
    written.append(_private(units / "perimeter-mosquitto.service", mosquitto_unit(broker)))
    return written


def mosquitto_conf(broker: Path, port: int, host: str = "127.0.0.1") -> str:
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
            "persistence_location %s/" % broker,
            "",
        ]
    )


def mosquitto_unit(broker: Path) -> str:
    return "\n".join(
        [
            "# The site's broker: install -m 644 into /etc/systemd/system/, then",
            "# systemctl enable --now perimeter-mosquitto (before perimeter-gateway).",
            "[Unit]",
            "Description=Mosquitto for the Perimeter gateway and its operators",
            "After=network-online.target",
            "",
            "[Service]",
            "ExecStart=/usr/sbin/mosquitto -c %s" % (broker / "mosquitto.conf"),
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=always",
            "User=perimeter",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
