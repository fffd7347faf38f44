"""Evidence anchored off the gateway host: signed checkpoints of the journal's chain.

The hash chain shows any edit to a journal that is checked against itself, but an insider on
the gateway host can rewrite rows and recompute every hash after them, or delete the newest
rows: the chain still holds. So every `every_s` seconds, when the journal has grown, the
gateway signs a checkpoint (row number, that row's hash, time, site, gateway) with its
Ed25519 witness key and sends it to witnesses the insider does not control:

- `file`: appended to a file, one JSON line each (on a remote mount, a write-once share);
- `syslog`: a UDP syslog message to a remote collector (`host:port`, RFC 3164 framing);
- a webhook: every `[[integration.webhook]]` with `witness = true` (the SOC's collector);
- the broker: retained on `P/witness/checkpoint` (the newest), which a logger elsewhere keeps.

`perimeter journal verify --witness FILE --witness-key KEY.pub` then checks every checkpoint's
signature and that the journal still holds that row with that hash: a rewrite or a truncation
anywhere before the last witnessed checkpoint fails. The public key is all a verifier needs;
`perimeter site init` writes both halves (the private one chmod 600).
"""

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.evidence.hashchain import canonical
from gateway.evidence.journal import Journal

log = logging.getLogger("perimeter.gateway")
SCHEMA = "perimeter.checkpoint/1"


class WitnessError(Exception):
    """A witness key or checkpoint that cannot be used; the message says why."""


@dataclass(frozen=True)
class WitnessConfig:
    key_file: str = ""  # the private half, 64 hex digits; "" turns checkpoints off
    file: str = ""
    syslog: str = ""  # host:port
    every_s: float = 60.0
    off_host: bool = True  # False: the site chose to run with no witness off the host

    def resolved(self, base: Path) -> "WitnessConfig":
        """Paths resolved against the config's folder; the key checked now, not at the first
        checkpoint (WitnessError says what is wrong)."""

        def path(value: str) -> str:
            return str(base / value) if value else ""

        resolved = WitnessConfig(path(self.key_file), path(self.file), self.syslog, self.every_s, self.off_host)
        if resolved.key_file:
            read_private(resolved.key_file)
        if self.syslog and not self.syslog.rpartition(":")[2].isdigit():
            raise WitnessError('witness.syslog: expected "host:port", got %r' % self.syslog)
        return resolved


def new_key(private: Path, public: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    private.touch(mode=0o600)
    private.chmod(0o600)
    private.write_text(raw.hex())
    public.write_text(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())


def read_private(path: str | Path) -> Ed25519PrivateKey:
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(Path(path).read_text().strip()))
    except (OSError, ValueError) as exc:
        raise WitnessError("cannot use the witness key %s: %s" % (path, exc)) from None


def read_public(path: str | Path) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(Path(path).read_text().strip()))
    except (OSError, ValueError) as exc:
        raise WitnessError("cannot use the witness public key %s: %s" % (path, exc)) from None


def _signed_part(checkpoint: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in checkpoint.items() if k != "sig"})


def sign(key: Ed25519PrivateKey, seq: int, head: str, ts: str, site: str, gateway: str) -> dict[str, Any]:
    checkpoint: dict[str, Any] = {
        "schema": SCHEMA,
        "seq": seq,
        "hash": head,
        "ts": ts,
        "site": site,
        "gateway": gateway,
    }
    checkpoint["sig"] = key.sign(_signed_part(checkpoint)).hex()
    return checkpoint


def signed_by(checkpoint: dict[str, Any], public: Ed25519PublicKey) -> bool:
    try:
        public.verify(bytes.fromhex(str(checkpoint.get("sig", ""))), _signed_part(checkpoint))
    except (InvalidSignature, ValueError):
        return False
    return True


class Witnesses:
    """Where the daemon's checkpoints go (the broker's copy goes through the journal's
    retained table, in the caller's transaction)."""

    def __init__(self, config: WitnessConfig, webhooks: tuple[str, ...] = ()) -> None:
        self.config = config
        self.webhooks = webhooks  # integrations that are witnesses too
        self.key = read_private(config.key_file) if config.key_file else None
        self.last_seq = 0
        self.last_at = float("-inf")
        self._syslog: tuple[str, int] | None = None
        if config.syslog:
            host, _, port = config.syslog.rpartition(":")
            self._syslog = (host.strip("[]"), int(port))

    def off_host(self) -> list[str]:
        """The witnesses that may be off the gateway's host (a file may be a remote mount: the
        config cannot tell, so it is not counted; the broker runs beside the gateway)."""
        if self.key is None:
            return []
        found = ["syslog %s" % self.config.syslog] if self.config.syslog else []
        return found + ["webhook %s" % name for name in self.webhooks]

    def start_note(self, off_host_wanted: bool) -> dict[str, Any]:
        """What every start journals of the witnesses: those off the host, or that there are
        none and why (the site's choice, or nothing configured: logged as a warning too)."""
        found = self.off_host()
        if found:
            return {"witnesses_off_host": found}
        why = "chosen: witness.off_host = false" if not off_host_wanted else "none configured"
        log.warning("no witness off this host (%s): an insider here can rewrite the journal's evidence", why)
        return {"witnesses_off_host": [], "no_off_host_witness": why}

    def due(self, seq: int, now: float) -> bool:
        return self.key is not None and seq > self.last_seq and now - self.last_at >= self.config.every_s

    def checkpoint(self, seq: int, head: str, ts: str, site: str, gateway: str, now: float) -> dict[str, Any]:
        assert self.key is not None
        checkpoint = sign(self.key, seq, head, ts, site, gateway)
        self.last_seq, self.last_at = seq, now
        line = json.dumps(checkpoint, sort_keys=True)
        if self.config.file:
            try:
                with open(self.config.file, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:  # a witness that cannot be reached is reported, not fatal
                log.error("witness file %s: %s (checkpoint of row %d not written there)", self.config.file, exc, seq)
        if self._syslog is not None:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(("<110>perimeter-witness: " + line).encode(), self._syslog)  # local5.info
            except OSError as exc:
                log.error("witness syslog %s: %s", self.config.syslog, exc)
        return checkpoint


def publish(witnesses: Witnesses, journal: Journal, topic: str, checkpoint: dict[str, Any]) -> None:
    """The checkpoint retained on the broker and queued for the witness webhooks, in the
    caller's transaction (the deliveries queue retries a webhook that is down)."""
    payload = json.dumps(checkpoint).encode()
    journal.set_retained(topic, payload)
    for name in witnesses.webhooks:
        journal.deliver(name, payload)


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """Checkpoints from a witness file (or from syslog lines, or saved retained messages: any
    line holding one JSON object with a signature)."""
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            data = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            found.append(data)
    return found


# The gateway checkpoints at its supervision round once `every_s` has passed: the newest
# checkpoint may trail the journal's head by the period and one round more (and by nothing
# after a clean stop, which writes a last checkpoint).
ROUND_GRACE_S = 10.0


def check_witnessed(
    journal: Journal, checkpoints: list[dict[str, Any]], public: Ed25519PublicKey, period_s: float | None = None
) -> tuple[bool, str]:
    """Whether the journal still holds every row a witness saw, as it saw it; and, given the
    checkpoint period, whether the witness saw the journal's head recently enough: checkpoints
    trimmed off the witness's end (or never sent) leave rows nobody witnessed."""
    if not checkpoints:
        return False, "the witness holds no checkpoints: nothing to hold the journal against"
    forged = [c for c in checkpoints if not signed_by(c, public)]
    if forged:
        return False, "%d checkpoint(s) are not signed by this witness key (the first: row %s)" % (
            len(forged),
            forged[0].get("seq"),
        )
    ordered = sorted(checkpoints, key=lambda c: int(c["seq"]))
    for checkpoint in ordered:
        seq, stored = int(checkpoint["seq"]), journal.hash_at(int(checkpoint["seq"]))
        if stored is None:
            return False, "row %d, witnessed at %s, is gone: the journal was truncated" % (seq, checkpoint["ts"])
        if stored != checkpoint["hash"]:
            return False, "row %d is not the row witnessed at %s: the journal was rewritten" % (seq, checkpoint["ts"])
    last = ordered[-1]
    if period_s is not None:
        head = journal.select("SELECT seq, ts FROM journal ORDER BY seq DESC LIMIT 1")
        head_seq, head_ts = head[0] if head else (0, last["ts"])
        behind = _seconds(head_ts) - _seconds(last["ts"])
        if int(head_seq) > int(last["seq"]) and behind > period_s + ROUND_GRACE_S:
            return False, (
                "the journal's head (row %d, %s) is %.0f s past the last witnessed checkpoint (row %d, %s), more "
                "than the checkpoint period of %g s: the witness's later checkpoints were removed, or never reached it"
                % (int(head_seq), head_ts, behind, int(last["seq"]), last["ts"], period_s)
            )
    return True, "%d checkpoints hold, the last at row %d (%s)" % (len(ordered), int(last["seq"]), last["ts"])


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
