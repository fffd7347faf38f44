"""Each node's own key, and the key agreements under way: the gateway's key store.

A node's key stands alone once it is here: random when `perimeter node deploy` provisions the
node, or agreed with the node by X25519 (`protocol/key_agreement.py`) at a key change. No
site-wide secret derives it, so neither the site key file nor recorded traffic gives it. A
node not listed here is on the key its site key derives (sites provisioned before key
changes were agreed) until its first key change.

The file holds secrets, so it is readable by its owner alone (a copy others can read is
refused) and never copied into the journal: the journal records that a key changed, with both
public keys, never the key. Every change is written to a new file beside it, synced and
renamed over it before the caller goes on, so the gateway never acknowledges a KEYX whose key
a power cut would lose.

    {"nodes":  {"3": {"epoch": 1, "generation": 0, "key": "<64 hex>", "since": "2026-12-06T11:00:00Z"}},
     "offers": {"4": {"epoch": 1, "secret": "<64 hex>", "public": "<64 hex>"}},
     "agreed": {"4": {"epoch": 1, "key": "<64 hex>", "gateway_public": "...", "node_public": "...", "at": "..."}}}

`offers` holds the gateway's ephemeral secret of each agreement it began, so that a restart
does not orphan a KEYX in flight; `agreed` a node's next key, from the node's KEYX until the
gateway first hears the node on it, when it moves to `nodes` and the old key opens nothing.
"""

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

log = logging.getLogger("perimeter.gateway")


class NodeKeyStoreError(Exception):
    """The key store cannot be used; the message says why and what to do."""


_HEX_FIELDS = {"nodes": ("key",), "offers": ("secret", "public"), "agreed": ("key", "gateway_public", "node_public")}


def _problem(data: dict[str, dict[str, Any]]) -> str | None:
    """What is wrong with a store read from disk, or None: checked once, when it is read, so a
    hand-edited entry is refused with its name instead of failing a frame later."""
    for part, fields in _HEX_FIELDS.items():
        for node, entry in data[part].items():
            if not node.isdigit() or not isinstance(entry, dict):
                return "%s: %r is not a node id with its entry" % (part, node)
            if not isinstance(entry.get("epoch"), int) or not 0 <= entry["epoch"] <= 0xFF:
                return "%s: node %s: epoch must be 0..255" % (part, node)
            for field in fields:
                value = entry.get(field)
                if not isinstance(value, str) or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
                    return "%s: node %s: %s must be 64 lower-case hex digits" % (part, node, field)
    return None


class NodeKeyStore:
    """The file, read at start and re-read when someone else (`node deploy`) changed it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.data: dict[str, dict[str, dict[str, Any]]] = {"nodes": {}, "offers": {}, "agreed": {}}
        self._parsed: dict[int, tuple[int, int, bytes] | None] = {}
        self._trouble: str | None = None
        self.reload()

    def reload(self) -> bool:
        """Read the file again if it changed since; whether it did."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return False
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise NodeKeyStoreError("node key store %s is readable by group or others; chmod 600 it" % self.path)
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NodeKeyStoreError("node key store %s: %s" % (self.path, exc)) from None
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k, {}), dict) for k in self.data):
            raise NodeKeyStoreError("node key store %s: expected an object of nodes, offers and agreed" % self.path)
        data = {k: dict(raw.get(k, {})) for k in self.data}
        problem = _problem(data)
        if problem:
            raise NodeKeyStoreError("node key store %s: %s" % (self.path, problem))
        self.data = data
        self._parsed.clear()
        self._stamp = stamp
        return True

    def poll(self) -> None:
        """`reload` for the running gateway: a store since made unusable (readable by others,
        broken by hand) is logged, once per new trouble, and the keys read before are kept,
        so the radio goes on."""
        try:
            if self.reload():
                log.info("node key store %s read again", self.path)
            self._trouble = None
        except NodeKeyStoreError as exc:
            if str(exc) != self._trouble:
                log.error("%s; keeping the node keys read before", exc)
            self._trouble = str(exc)

    def _save(self) -> None:
        self._parsed.clear()
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)

    # -- what is kept ----------------------------------------------------------------------

    def key(self, node_id: int) -> tuple[int, int, bytes] | None:
        """(epoch, generation, key) the node is on, or None: its site-derived key. Asked for
        every frame, so parsed once per change of the file."""
        if node_id in self._parsed:
            return self._parsed[node_id]
        entry = self.data["nodes"].get(str(node_id))
        found = (
            None
            if entry is None
            else (int(entry["epoch"]), int(entry.get("generation", 0)), bytes.fromhex(entry["key"]))
        )
        self._parsed[node_id] = found
        return found

    def offer(self, node_id: int) -> tuple[int, bytes, bytes] | None:
        """(epoch, secret, public) of the agreement the gateway offered the node, or None."""
        entry = self.data["offers"].get(str(node_id))
        if entry is None:
            return None
        return int(entry["epoch"]), bytes.fromhex(entry["secret"]), bytes.fromhex(entry["public"])

    def agreed(self, node_id: int) -> dict[str, Any] | None:
        """The node's agreed next key (epoch, key, both publics, when), not yet heard on."""
        entry = self.data["agreed"].get(str(node_id))
        if entry is None:
            return None
        return dict(entry, key=bytes.fromhex(entry["key"]))

    # -- changes, each durable before it returns --------------------------------------------

    def provision(self, node_id: int, key: bytes, epoch: int, generation: int, now_iso: str) -> None:
        """A node deployed with its own random key: what was under way for it is void."""
        self.reload()
        self.data["nodes"][str(node_id)] = {
            "epoch": epoch,
            "generation": generation,
            "key": key.hex(),
            "since": now_iso,
        }
        self.data["offers"].pop(str(node_id), None)
        self.data["agreed"].pop(str(node_id), None)
        self._save()

    def keep_offer(self, node_id: int, epoch: int, secret: bytes, public: bytes) -> None:
        self.reload()
        self.data["offers"][str(node_id)] = {"epoch": epoch, "secret": secret.hex(), "public": public.hex()}
        self._save()

    def keep_agreed(
        self,
        node_id: int,
        epoch: int,
        key: bytes,
        gateway_public: bytes,
        node_public: bytes,
        now_iso: str,
        boot: int | None,
    ) -> None:
        """The node's next key, from its KEYX; `boot` the node's boot count when it answered."""
        self.reload()
        self.data["agreed"][str(node_id)] = {
            "boot": boot,
            "epoch": epoch,
            "key": key.hex(),
            "gateway_public": gateway_public.hex(),
            "node_public": node_public.hex(),
            "at": now_iso,
        }
        self._save()

    def promote(self, node_id: int, generation: int, now_iso: str) -> None:
        """The node was heard on its agreed key: that is its key now, the old one gone."""
        self.reload()
        entry = self.data["agreed"].pop(str(node_id))
        self.data["offers"].pop(str(node_id), None)
        self.data["nodes"][str(node_id)] = {
            "epoch": entry["epoch"],
            "generation": generation,
            "key": entry["key"],
            "since": now_iso,
        }
        self._save()
