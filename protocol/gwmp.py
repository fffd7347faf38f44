"""Semtech's packet forwarder protocol (GWMP v2), between a LoRa concentrator and the gateway.

One codec for every side that speaks it: the gateway's `semtech_udp` transport, the
simulator's radio medium (which plays the forwarder), the fuzzer and the specs. A datagram is

    0  u8   version (2)
    1  u16  random token, echoed by the answer
    3  u8   identifier (PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK)
    4  u8[8] gateway EUI   (PUSH_DATA, PULL_DATA and TX_ACK only)
    12 ...  JSON           (PUSH_DATA: {"rxpk": [...]}; TX_ACK: {"txpk_ack": {...}})
    4  ...  JSON           (PULL_RESP: {"txpk": {...}}, no EUI)

(Semtech, packet_forwarder PROTOCOL.TXT.) The gateway side only, on CPython: nodes never speak
it, and it is never compiled into a node image (`gateway/tools/node_tool.py`, GATEWAY_ONLY).
"""

import base64
import json
from dataclasses import dataclass
from typing import Any

VERSION = 2
PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = 0, 1, 2, 3, 4, 5
NAMES = {0: "PUSH_DATA", 1: "PUSH_ACK", 2: "PULL_DATA", 3: "PULL_RESP", 4: "PULL_ACK", 5: "TX_ACK"}
WITH_EUI = (PUSH_DATA, PULL_DATA, TX_ACK)
EUI_SIZE = 8


@dataclass(frozen=True)
class Datagram:
    ident: int
    token: bytes  # 2 bytes
    eui: bytes = b""  # 8 bytes where the identifier carries one
    body: bytes = b""  # JSON, as sent

    def json(self) -> Any:
        """The body's JSON ({} if it has none); ValueError if it is not JSON."""
        return json.loads(self.body) if self.body else {}


def encode(ident: int, token: bytes, eui: bytes = b"", body: Any = None) -> bytes:
    """One datagram; `body` is a JSON value (or bytes, sent as they are)."""
    if len(token) != 2:
        raise ValueError("a GWMP token is 2 bytes")
    if (ident in WITH_EUI) != (len(eui) == EUI_SIZE) or eui and len(eui) != EUI_SIZE:
        raise ValueError(
            "%s carries %s" % (NAMES.get(ident, ident), "an 8-byte EUI" if ident in WITH_EUI else "no EUI")
        )
    if body is None:
        text = b""
    elif isinstance(body, bytes):
        text = body
    else:
        text = json.dumps(body, separators=(",", ":")).encode()
    return bytes([VERSION]) + token + bytes([ident]) + eui + text


def decode(data: bytes) -> Datagram:
    """A datagram's parts; ValueError if it is not GWMP v2 or too short for its identifier."""
    if len(data) < 4 or data[0] != VERSION:
        raise ValueError("not GWMP v2")
    ident = data[3]
    if ident not in NAMES:
        raise ValueError("GWMP identifier %d is not one of v2's" % ident)
    if ident in WITH_EUI:
        if len(data) < 4 + EUI_SIZE:
            raise ValueError("%s too short" % NAMES[ident])
        return Datagram(ident, data[1:3], data[4:12], data[12:])
    return Datagram(ident, data[1:3], b"", data[4:])


def ack_for(datagram: Datagram) -> bytes | None:
    """What a server answers at once: PUSH_ACK to PUSH_DATA, PULL_ACK to PULL_DATA."""
    answer = {PUSH_DATA: PUSH_ACK, PULL_DATA: PULL_ACK}.get(datagram.ident)
    return None if answer is None else encode(answer, datagram.token)


def push_data(token: bytes, eui: bytes, rxpk: list[dict[str, Any]]) -> bytes:
    return encode(PUSH_DATA, token, eui, {"rxpk": rxpk})


def rxpk(packet: bytes, **metadata: Any) -> dict[str, Any]:
    """An uplink's entry in PUSH_DATA: its metadata (freq, datr, rssi, lsnr, tmst, stat ...)
    and the packet, base64."""
    return dict(metadata, size=len(packet), data=base64.b64encode(packet).decode())


def pull_resp(token: bytes, packet: bytes, **txpk: Any) -> bytes:
    """A downlink for the forwarder to transmit: `txpk` gives how and when."""
    return encode(PULL_RESP, token, body={"txpk": dict(txpk, size=len(packet), data=base64.b64encode(packet).decode())})


def tx_ack(token: bytes, eui: bytes, error: str = "NONE") -> bytes:
    return encode(TX_ACK, token, eui, {"txpk_ack": {"error": error}})


def packet_of(entry: dict[str, Any]) -> bytes:
    """The packet an rxpk or txpk carries; ValueError if its data is not base64."""
    data = entry["data"]
    if not isinstance(data, str):
        raise ValueError("data is not base64 text")
    return base64.b64decode(data, validate=True)
