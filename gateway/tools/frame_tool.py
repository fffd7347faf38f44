"""`perimeter frame ...`: decode, encode and check frames by hand, at the fence or at a desk.

An installer with a laptop on a node's serial port, or an engineer reading a capture, pastes
hex and gets JSON back; bad input gets a one-line message, never a traceback.
"""

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from gateway.identity import site_key
from protocol.body import encode_body, field_labels
from protocol.envelope import ENVELOPE_TYPE, wrap
from protocol.errors import TAG, EncodeError, FrameRejected
from protocol.framing import decode_frame, encode_frame
from protocol.keys import NodeKey
from protocol.messages import DOWN, ENVELOPED, UP, MessageType, message_type
from protocol.packet import Packet, header_node_id, open_packet, seal_packet


class UsageError(Exception):
    """Input the tool cannot work with (exit status 2)."""


def read_site_key(path: str) -> bytes:
    try:
        return site_key.read_site_key(path)
    except site_key.KeyFileError as exc:
        raise UsageError(str(exc)) from None


def parse_hex(text: str) -> bytes:
    """Bytes from hex, tolerating spaces, colons and a 0x prefix."""
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise UsageError("not hex: %r" % (text[:40] + ("…" if len(text) > 40 else ""))) from None


def _direction(name: str | None, packet: bytes) -> int:
    if name == "up":
        return UP
    if name == "down":
        return DOWN
    # Not given: listen the way the header's type says it travels. Nothing is believed on
    # that account: the tag, which covers the direction, still has to verify.
    claimed = message_type((packet[0] >> 1) & 0x1F) if packet else None
    return claimed.direction if claimed is not None else UP


def decode(
    data: bytes,
    site_key: bytes,
    site_id: int,
    *,
    serial: bool = True,
    encrypted: bool = True,
    direction: str | None = None,
    last_ctr: int | None = None,
) -> dict[str, Any]:
    """A serial frame (or bare packet) verified and decoded, as a JSON-ready dict.

    Raises `FrameRejected` with the error kind when it does not pass.
    """
    packet = decode_frame(data) if serial else data
    node_id = header_node_id(packet)
    if not 1 <= node_id <= 0xFFFE:
        raise FrameRejected(TAG, "node id %d is reserved: no key exists, so no tag can verify" % node_id)
    node_key = NodeKey.for_node(site_key, node_id)
    opened = open_packet(node_key, site_id, packet, _direction(direction, packet), last_ctr, encrypted)
    return describe(opened, packet)


def describe(opened: Packet, packet: bytes) -> dict[str, Any]:
    """The JSON form of a decoded packet."""
    described = {
        "type": opened.name,
        "type_id": opened.type_id,
        "dir": "up" if opened.direction == UP else "down",
        "node_id": opened.node_id,
        "ctr": opened.ctr,
        "ack_req": opened.ack_req,
        "fields": opened.fields,
        "labels": field_labels(opened.type_id, opened.fields),
        "body_plain": opened.body.hex(),
        "packet": packet.hex(),
        "serial": encode_frame(packet).hex(),
    }
    if opened.sent_ds is not None:  # it came in an ENVELOPE
        described["envelope"] = {"boot": opened.boot, "sent_ds": opened.sent_ds, "packet_bytes": len(packet)}
    return described


def _field_value(message: MessageType, name: str, value: Any) -> Any:
    """Accept enum names and lists of flag names where the wire has ints."""
    for field_name, _kind, enum, flags in message.fields:
        if field_name != name:
            continue
        if enum is not None and isinstance(value, str):
            for number, label in enum.items():
                if label == value:
                    return number
            raise EncodeError("%s.%s has no value %r (one of %s)" % (message.name, name, value, sorted(enum.values())))
        if flags is not None and isinstance(value, list):
            bits = 0
            for label in value:
                matches = [bit for bit, flag in flags.items() if flag == label]
                if not matches:
                    raise EncodeError("%s.%s has no flag %r" % (message.name, name, label))
                bits |= 1 << matches[0]
            return bits
    return value


def encode(spec: dict[str, Any], site_key: bytes, site_id: int, *, encrypted: bool = True) -> bytes:
    """The packet a JSON spec describes: type, node_id, ctr, ack_req (optional), fields, and
    optionally envelope: {boot, sent_ds, padded} to send it in an ENVELOPE as firmware 0.5 does."""
    if not isinstance(spec, dict):
        raise EncodeError("expected a JSON object with type, node_id, ctr and fields")
    for required in ("type", "node_id", "ctr", "fields"):
        if required not in spec:
            raise EncodeError("missing %r" % required)
    ref = spec["type"]
    message = message_type(ref) if isinstance(ref, (int, str)) and not isinstance(ref, bool) else None
    if message is None:
        raise EncodeError("unknown message type %r" % (ref,))
    node_id, ctr, ack_req = spec["node_id"], spec["ctr"], spec.get("ack_req", False)
    if not isinstance(node_id, int) or not isinstance(ctr, int) or not isinstance(ack_req, bool):
        raise EncodeError("node_id and ctr must be integers, ack_req true or false")
    if not isinstance(spec["fields"], dict):
        raise EncodeError("fields must be a JSON object")
    fields = {name: _field_value(message, name, value) for name, value in spec["fields"].items()}
    body, type_id = encode_body(message.type_id, fields), message.type_id
    envelope = spec.get("envelope")
    if envelope is not None:
        if not isinstance(envelope, dict) or not all(isinstance(envelope.get(k), int) for k in ("boot", "sent_ds")):
            raise EncodeError("envelope must be an object with integer boot and sent_ds (and padded true or false)")
        if message.type_id not in ENVELOPED:
            raise EncodeError("an ENVELOPE carries uplinks only, not %s" % message.name)
        padded = bool(envelope.get("padded", False))
        body = wrap(type_id, body, ack_req, envelope["boot"], envelope["sent_ds"], padded)
        type_id, ack_req = ENVELOPE_TYPE, False
    return seal_packet(NodeKey.for_node(site_key, node_id), site_id, type_id, node_id, ctr, body, ack_req, encrypted)


def default_vector_files() -> list[Path]:
    """The golden vectors shipped with the protocol package."""
    folder = resources.files("protocol") / "vectors"
    return [Path(str(folder / name)) for name in ("frames.json", "frames_plain.json")]


def check_vectors(paths: list[Path], out: TextIO) -> int:
    """Round-trip every golden vector through `encode` and `decode`; the number that failed."""
    failed = total = 0
    for path in paths:
        try:
            doc = json.loads(path.read_text())
            site_key, site_id, encrypted = bytes.fromhex(doc["site_key"]), doc["site_id"], doc["encrypted"]
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError("%s is not a vector file: %s" % (path, exc)) from None
        print("%s (%s site)" % (path.name, "encrypting" if encrypted else "plaintext"), file=out)
        for entry in doc["valid"]:
            total += 1
            spec = {k: entry[k] for k in ("type", "node_id", "ctr", "ack_req", "fields")}
            inner = entry.get("inner")
            if inner is not None:  # an ENVELOPE: encoded from the message it carries
                spec.update(type=inner["type"], ack_req=inner["ack_req"], envelope=inner)
            built = encode_frame(encode(spec, site_key, site_id, encrypted=encrypted)).hex()
            decoded = decode(parse_hex(entry["serial"]), site_key, site_id, encrypted=encrypted)
            ok = built == entry["serial"] and decoded["fields"] == entry["fields"]
            failed += not ok
            print(
                "  %s %-34s %-9s %s" % ("ok  " if ok else "FAIL", entry["name"], decoded["type"], entry["serial"]),
                file=out,
            )
        for entry in doc["invalid"]:
            total += 1
            serial = "serial" in entry
            try:
                decode(
                    parse_hex(entry["serial" if serial else "packet"]),
                    site_key,
                    site_id,
                    serial=serial,
                    encrypted=encrypted,
                    direction=entry.get("dir"),
                    last_ctr=entry.get("last_ctr"),
                )
                got = "accepted"
            except FrameRejected as exc:
                got = exc.kind
            ok = got == entry["error"]
            failed += not ok
            print("  %s %-34s rejected: %s" % ("ok  " if ok else "FAIL", entry["name"], got), file=out)
    print("%d vectors, %d round-tripped, %d failed" % (total, total - failed, failed), file=out)
    return failed


def _inputs(args_hex: list[str], stdin: TextIO) -> list[str]:
    if args_hex and args_hex != ["-"]:
        return [" ".join(args_hex)]
    lines = [line for line in stdin.read().splitlines() if line.strip()]
    if not lines:
        raise UsageError("no frame given (pass HEX, or lines of hex on standard input)")
    return lines


def _u32(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text) from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("%d is outside 0..4294967295" % value)
    return value


def add_parser(subparsers: Any) -> None:
    """Register `perimeter frame ...`."""
    frame = subparsers.add_parser("frame", help="decode, encode and check wire frames")
    actions = frame.add_subparsers(dest="action", required=True, metavar="ACTION")

    def keyed(p: argparse.ArgumentParser) -> None:
        p.add_argument("--site-key-file", required=True, metavar="FILE", help="32-byte site key, hex or raw")
        p.add_argument("--site-id", required=True, type=_u32, metavar="N", help="the site's id (u32)")
        p.add_argument("--plain", action="store_true", help="the site does not encrypt bodies")
        p.add_argument("--packet", action="store_true", help="a bare packet (LoRa payload), not a serial frame")

    dec = actions.add_parser("decode", help="verify and decode a frame, print it as JSON")
    keyed(dec)
    dec.add_argument("--dir", choices=("up", "down"), help="direction listened to (default: as the type says)")
    dec.add_argument("--last-ctr", type=_u32, metavar="N", help="reject ctr <= N as a replay")
    dec.add_argument("hex", nargs="*", metavar="HEX", help="the frame in hex; - or nothing: one per stdin line")
    dec.set_defaults(run=_run_decode)

    enc = actions.add_parser("encode", help="build a frame from JSON, print it as hex")
    keyed(enc)
    enc.add_argument(
        "json",
        nargs="?",
        default="-",
        metavar="JSON",
        help='{"type": "FENCE", "node_id": 7, "ctr": 1, "ack_req": true, "fields": {...}}; - for stdin',
    )
    enc.set_defaults(run=_run_encode)

    chk = actions.add_parser("check-vectors", help="round-trip the golden vectors through encode and decode")
    chk.add_argument("files", nargs="*", type=Path, metavar="FILE", help="vector files (default: the shipped ones)")
    chk.set_defaults(run=_run_check)


def _run_decode(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    site_key = read_site_key(args.site_key_file)
    status = 0
    for text in _inputs(args.hex, stdin):
        try:
            decoded = decode(
                parse_hex(text),
                site_key,
                args.site_id,
                serial=not args.packet,
                encrypted=not args.plain,
                direction=args.dir,
                last_ctr=args.last_ctr,
            )
        except FrameRejected as exc:
            print("rejected: %s (%s)" % (exc.kind, exc.detail), file=err)
            status = 1
            continue
        print(json.dumps(decoded), file=out)
    return status


def _run_encode(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    site_key = read_site_key(args.site_key_file)
    text = stdin.read() if args.json == "-" else args.json
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError("not JSON: %s (line %d, column %d)" % (exc.msg, exc.lineno, exc.colno)) from None
    try:
        packet = encode(spec, site_key, args.site_id, encrypted=not args.plain)
    except EncodeError as exc:
        raise UsageError(str(exc)) from None
    print((packet if args.packet else encode_frame(packet)).hex(), file=out)
    return 0


def _run_check(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    return 1 if check_vectors(args.files or default_vector_files(), out) else 0


def run(args: argparse.Namespace) -> int:
    """Run a parsed `perimeter frame` command; its exit status."""
    return int(args.run(args, sys.stdin, sys.stdout, sys.stderr))
