"""`perimeter node build|deploy|revoke`: node firmware built from the pinned sources, put on a
board with an identity of its own, and a board's key revoked when it is lost or stolen."""

import argparse
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gateway.config import load
from gateway.tools import frame_tool
from gateway.tools.ownership import keep_owner

BOARDS = ["esp32", "esp32s3", "rp2", "unix32", "sim"]


def add_parser(commands: Any) -> None:
    """Register `perimeter node ...`."""
    node = commands.add_parser(
        "node", help="build node firmware, deploy it to a board with its identity, or revoke a board's key"
    )
    actions = node.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser(
        "build", help="a frozen image (rp2, unix32) or mpy-cross files (esp32, esp32s3, sim) from the pinned sources"
    )
    build.add_argument("--board", default="esp32", choices=BOARDS, help="the board (default esp32)")
    build.add_argument("--out", help="build folder (default build/node-BOARD)")
    build.set_defaults(handler=_build_or_deploy)

    deploy = actions.add_parser("deploy", help="put the firmware and a new identity on a board over USB")
    deploy.add_argument("--board", default="esp32", choices=BOARDS, help="the board (default esp32)")
    deploy.add_argument("--port", help="the board's serial port, e.g. /dev/ttyUSB0")
    deploy.add_argument("--node-id", type=int, help="the node id to give this board (its [[node]] in gateway.toml)")
    deploy.add_argument(
        "--config", metavar="FILE", help="the gateway's TOML config: the site id from it, a key of the node's own"
    )
    deploy.add_argument(
        "--site-key-file",
        metavar="FILE",
        help="instead of --config, for sites provisioned before: the node gets the key the site key derives",
    )
    deploy.add_argument("--site-id", type=int, help="with --site-key-file: the site's id (as in its gateway.toml)")
    deploy.add_argument(
        "--role",
        default="node",
        choices=["node", "ground", "bridge"],
        help="node: on the fence (default); ground: only a buried geophone, inside the fence; bridge: a relay",
    )
    deploy.add_argument("--link", default="serial", choices=["serial", "lora"], help="the uplink (default serial)")
    deploy.add_argument(
        "--uplinks",
        default="enveloped",
        choices=["enveloped", "padded", "bare"],
        help="padded: every uplink one length on air (constant-length uplinks); bare: for gateways before 0.5",
    )
    deploy.add_argument("--generation", type=int, default=0, help="the key generation (after a revoke)")
    deploy.add_argument("--drive", help="--board rp2: the mount point of the board's RPI-RP2 (BOOTSEL) drive")
    deploy.add_argument("--out", help="build folder (default build/node-BOARD)")
    deploy.add_argument("--dry-run", action="store_true", help="print the commands only")
    deploy.set_defaults(handler=_build_or_deploy)

    revoke = actions.add_parser("revoke", help="refuse a lost or stolen board's key from the gateway's next round")
    revoke.add_argument("--node-id", required=True, type=int, help="the node whose key is revoked")
    revoke.add_argument("--config", required=True, metavar="FILE", help="the gateway's TOML config")
    revoke.add_argument("--reason", default="", help="why, for the journal")
    revoke.set_defaults(handler=_revoke)


def _build_or_deploy(args: argparse.Namespace) -> int:
    from gateway.tools import node_image, node_tool

    try:
        if args.action == "build":
            if args.board in node_image.TARGETS:
                return _node_image(args, node_image)
            out = Path(args.out or "build/node-%s" % args.board)
            files = node_tool.build(args.board, out)
            print("%s: %d files for %s (%s)" % (out, len(files), args.board, node_tool.ARCH[args.board]))
            return 0
        if args.board == "unix32":
            raise frame_tool.UsageError("unix32 is the node interpreter for simulations and specs: nothing to deploy")
        if args.node_id is None or not (args.config or args.site_key_file) or not args.port:
            raise frame_tool.UsageError(
                "perimeter node deploy needs --port, --node-id and --config (the gateway's; the node gets a key "
                "of its own) or, for a site provisioned before, --site-key-file"
            )
        if args.board == "rp2" and not args.drive and not args.dry_run:
            raise frame_tool.UsageError(
                "perimeter node deploy --board rp2 needs --drive: the RPI-RP2 drive's mount point"
            )
        node_key, site_id, key_epoch = _deployed_key(args)
        out = Path(args.out or "build/node-%s" % args.board)
        if args.board == "rp2":
            image = Path(node_image.build("rp2"))
            print("$ cp %s %s/" % (image, args.drive or "RPI-RP2"))
            if not args.dry_run:
                node_tool.install_uf2(image, Path(args.drive))
                print("the board reboots into the image; it waits, unprovisioned, for its identity on %s" % args.port)
            out.mkdir(parents=True, exist_ok=True)
        else:
            node_tool.build(args.board, out)
        identity = out.parent / ("identity-%d.json" % args.node_id)
        identity.write_text(
            node_tool.identity_json(node_key, site_id, args.node_id, args.role, args.link, args.uplinks, key_epoch)
        )
        identity.chmod(0o600)
        if args.board == "rp2":
            commands = node_tool.identity_commands(args.port, identity)
        else:
            commands = node_tool.deploy_commands(args.port, out, identity)
        for command in commands:
            print("$ " + " ".join(command))
            if not args.dry_run and subprocess.run(command).returncode != 0:
                raise frame_tool.UsageError("mpremote failed on %s: is the board on that port?" % args.port)
        return 0
    except node_tool.NodeToolError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    except node_image.BuildError as exc:
        raise frame_tool.UsageError("node image: %s" % exc) from None


def _deployed_key(args: argparse.Namespace) -> tuple[bytes, int, int]:
    """The key, site id and key epoch a deploy gives the node: with --config a random key, kept first in
    the gateway's key store (the gateway reads it at its next round); else the site-derived one."""
    from gateway.clock import WALL
    from gateway.identity.node_keys import NodeKeyStore, NodeKeyStoreError
    from gateway.identity.revocations import read_revocations
    from gateway.tools import node_tool

    if not args.config:
        if args.site_id is None:
            raise frame_tool.UsageError(
                "perimeter node deploy --site-key-file needs --site-id (the site's id, as in its gateway.toml): "
                "every frame of a node with another id is refused"
            )
        site_key = frame_tool.read_site_key(args.site_key_file)
        return node_tool.derived_key(site_key, args.node_id, args.generation), args.site_id, 0
    config = load(args.config)
    if args.node_id not in {n.id for n in config.nodes}:
        raise frame_tool.UsageError("node %d is not in %s: add its [[node]] table first" % (args.node_id, args.config))
    keys = config.site_keys
    assert keys.node_keys is not None and keys.revocations is not None
    generation = read_revocations(keys.revocations).get(args.node_id)
    key = os.urandom(32)
    try:
        NodeKeyStore(keys.node_keys).provision(
            args.node_id, key, keys.epoch, generation.generation if generation else 0, WALL.utc_now()
        )
    except (NodeKeyStoreError, OSError) as exc:
        raise frame_tool.UsageError("cannot keep node %d's key: %s" % (args.node_id, exc)) from None
    keep_owner(keys.node_keys)
    print("%s: node %d's own key kept (the gateway takes it up within a second)" % (keys.node_keys, args.node_id))
    return key, config.site_id, keys.epoch


def _revoke(args: argparse.Namespace) -> int:
    from gateway.clock import WALL
    from gateway.identity.revocations import RevocationError, revoke

    if args.node_id is None or not args.config:
        raise frame_tool.UsageError("perimeter node revoke needs --node-id and --config")
    config = load(args.config)
    if args.node_id not in {n.id for n in config.nodes}:
        raise frame_tool.UsageError("node %d is not in %s" % (args.node_id, args.config))
    path = config.site_keys.revocations
    assert path is not None
    try:
        revocation = revoke(path, args.node_id, args.reason, WALL.utc_now())
    except RevocationError as exc:
        raise frame_tool.UsageError(str(exc)) from None
    keep_owner(path)
    g = revocation.generation
    print("%s: node %d's key generation %d is revoked" % (path, args.node_id, g - 1))
    print("the running gateway refuses frames under it, and raises a revoked_key alarm, from its next round")
    print("re-provision the board: perimeter node deploy --node-id %d --generation %d ..." % (args.node_id, g))
    return 0


def _node_image(args: argparse.Namespace, node_image: Any) -> int:
    """A frozen image from the pinned sources, from the cache when its inputs are unchanged."""
    cached = Path(node_image.cached_image(args.board))
    reused = cached.exists()
    image = Path(node_image.build(args.board))
    out = Path(args.out or "build/node-%s" % args.board)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(image, out / image.name)
    print(
        "%s: %s image, %d bytes (%s %s)"
        % (
            out / image.name,
            args.board,
            image.stat().st_size,
            "reused from the cache" if reused else "built into the cache",
            image.parent,
        )
    )
    return 0
