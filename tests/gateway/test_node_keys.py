"""The gateway's key store: each node's own key and the agreements under way, kept on disk
(readable by its owner alone, written whole and renamed) before anything relies on them, and
refused with a clear message when it is readable by others or was edited into nonsense."""

import json
import os
from pathlib import Path

import pytest

from gateway.config import ConfigError, load
from gateway.daemon import Gateway
from gateway.identity.node_keys import NodeKeyStore, NodeKeyStoreError
from tests.gateway.harness import write_site

KEY, SECRET, PUBLIC, OTHER = (bytes([n]) * 32 for n in (1, 2, 3, 4))


def test_an_agreement_is_kept_from_offer_to_move_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "node-keys.json"
    store = NodeKeyStore(path)
    assert store.key(3) is None  # not listed: the node is on its site-derived key
    store.keep_offer(3, 1, SECRET, PUBLIC)
    store.keep_agreed(3, 1, KEY, PUBLIC, OTHER, "2026-12-06T11:00:00Z", boot=4)
    assert path.stat().st_mode & 0o777 == 0o600
    again = NodeKeyStore(path)
    assert again.offer(3) == (1, SECRET, PUBLIC)
    agreed = again.agreed(3)
    assert agreed is not None and agreed["key"] == KEY and agreed["boot"] == 4
    again.promote(3, 0, "2026-12-06T11:01:00Z")
    assert NodeKeyStore(path).key(3) == (1, 0, KEY)
    assert again.offer(3) is None and again.agreed(3) is None


def test_a_deploy_replaces_the_node_key_and_voids_what_was_under_way(tmp_path: Path) -> None:
    store = NodeKeyStore(tmp_path / "node-keys.json")
    store.keep_offer(3, 1, SECRET, PUBLIC)
    other_writer = NodeKeyStore(tmp_path / "node-keys.json")  # `perimeter node deploy`, while the gateway runs
    other_writer.provision(5, OTHER, 0, 0, "2026-12-06T11:00:00Z")
    store.provision(3, KEY, 0, 1, "2026-12-06T11:02:00Z")  # reads the file again first: node 5 is kept
    reread = NodeKeyStore(tmp_path / "node-keys.json")
    assert reread.key(5) == (0, 0, OTHER) and reread.key(3) == (0, 1, KEY) and reread.offer(3) is None


def test_a_store_others_can_read_or_one_edited_into_nonsense_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node-keys.json"
    NodeKeyStore(path).provision(3, KEY, 0, 0, "2026-12-06T11:00:00Z")
    os.chmod(path, 0o644)
    with pytest.raises(NodeKeyStoreError, match="readable by group or others; chmod 600 it"):
        NodeKeyStore(path)
    os.chmod(path, 0o600)
    data = json.loads(path.read_text())
    data["nodes"]["3"]["key"] = "not a key"
    path.write_text(json.dumps(data))
    with pytest.raises(NodeKeyStoreError, match="nodes: node 3: key must be 64 lower-case hex digits"):
        NodeKeyStore(path)


def test_the_gateway_will_not_start_on_a_broken_store_and_says_why(tmp_path: Path) -> None:
    config = write_site(tmp_path, 1883)
    (tmp_path / "node-keys.json").write_text("{not json")
    os.chmod(tmp_path / "node-keys.json", 0o600)
    with pytest.raises(ConfigError, match="node key store .*node-keys.json"):
        Gateway(load(config)).open()
