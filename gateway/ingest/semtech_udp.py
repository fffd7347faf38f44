"""The Semtech UDP transport: a LoRa concentrator's packet forwarder (GWMP v2, `protocol.gwmp`).

Uplinks arrive in PUSH_DATA with how they were heard; downlinks go out as PULL_RESP to the
address the forwarder's PULL_DATA came from, timed on the concentrator's own clock. Packets
whose CRC failed are reported as interference (a jammer's signature)."""

import asyncio
import ipaddress
import logging
import math
import random
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from gateway.clock import WALL, Clock
from gateway.config import SemtechUdpConfig
from gateway.ingest.forwarder_sources import allowed_source
from gateway.ingest.pipeline import Reception
from gateway.ingest.transports import Receiver, Transport
from protocol import gwmp

log = logging.getLogger("perimeter.transport")

MAX_FORWARDERS = 64  # concentrators a site has, at the very most: the downlink table's bound
# What a malformed datagram raises on its way through `_datagram`; anything else is a bug.
# RecursionError: JSON nested thousands deep in a PUSH_DATA (before, a traceback per datagram).
BAD_DATAGRAM = (ValueError, KeyError, TypeError, struct.error, RecursionError)
# A forwarder sends PULL_DATA every 10 s (its keepalive): while the address an EUI pulls from
# was heard this recently, another address claiming that EUI is refused, not believed (before,
# a spoofer's PULL_DATA from another port took the node's ACKs). A forwarder that restarts on
# a new port is believed once its old address has gone quiet this long.
PULL_HELD_S = 30.0


def _number(value: Any, name: str) -> float | None:
    """A forwarder's metadata number: absent is None; anything but a finite number is refused
    (it would end in the journal, the alarm's evidence and the dashboard)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("%s is not a finite number" % name)
    return value


class SemtechUdpTransport(Transport):
    """A LoRa concentrator's packet forwarder: uplinks in PUSH_DATA, downlinks as PULL_RESP."""

    kind = "semtech_udp"

    def __init__(self, config: SemtechUdpConfig, receiver: Receiver, *, clock: Clock = WALL) -> None:
        super().__init__(config.name, receiver, clock=clock)
        self.config = config
        self._udp: asyncio.DatagramTransport | None = None
        self._pull_addr: dict[bytes, Any] = {}  # gateway EUI -> address its PULL_DATA came from
        self._pulled_at: dict[bytes, float] = {}  # gateway EUI -> when that address last pulled
        self.conflicting_pulls = 0  # PULL_DATA for an EUI from a second address while the first lives
        self.bad_datagrams = 0
        self.refused_datagrams = 0  # from an EUI or an address the allow-lists do not name
        self.crc_failures = 0  # packets heard whose CRC failed: reported as interference
        self._euis = {bytes.fromhex(e) for e in config.allowed_gateways}
        # "10.8.0.5" or "10.8.0.0/24" (any port), or "10.8.0.5:1700" / "[fd00::5]:1700" (that port only)
        self._sources = [allowed_source(s) for s in config.allowed_sources]
        if not self._euis and not self._sources:
            log.warning(
                "transport=%s takes datagrams from any forwarder: name allowed_gateways and allowed_sources",
                config.name,
            )
        # The forwarders' last answers to our downlinks, for inspection; bounded, since a
        # forwarder answers every one of them for as long as the gateway runs.
        self.tx_acks: deque[Any] = deque(maxlen=256)
        self._closed: asyncio.Future[None] | None = None

    @property
    def local_address(self) -> tuple[str, int] | None:
        if self._udp is None:
            return None
        address: tuple[str, int] = self._udp.get_extra_info("sockname")
        return address

    async def serve(self, connected: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        owner = self

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                owner.datagram(data, addr)

            def error_received(self, exc: Exception) -> None:
                log.warning("transport=%s udp error: %s", owner.name, exc)

            def connection_lost(self, exc: Exception | None) -> None:
                if owner._closed and not owner._closed.done():
                    owner._closed.set_result(None)

        transport, _ = await loop.create_datagram_endpoint(_Protocol, local_addr=(self.config.host, self.config.port))
        self._udp = transport
        connected()
        try:
            await self._closed
        finally:
            self._udp = None
            transport.close()

    def allowed(self, eui: bytes, addr: Any) -> bool:
        """Whether a forwarder may talk to us: its EUI and its source address on the
        allow-lists (an empty list allows any). Without them anyone on the network could
        redirect a node's ACKs or report forged interference."""
        if self._euis and eui not in self._euis:
            return False
        if self._sources:
            try:
                source, port = ipaddress.ip_address(addr[0]), int(addr[1])
            except (ValueError, TypeError, IndexError):
                return False
            return any(source in network and allowed in (None, port) for network, allowed in self._sources)
        return True

    def datagram(self, data: bytes, addr: Any) -> None:
        """One datagram from a packet forwarder (never raises: a bad datagram is counted)."""
        try:
            self._datagram(data, addr)
        except BAD_DATAGRAM as exc:
            self.bad_datagrams += 1
            log.warning("transport=%s bad GWMP datagram from %s: %s", self.name, addr, exc)

    def _datagram(self, data: bytes, addr: Any) -> None:
        datagram = gwmp.decode(data)
        if datagram.ident != gwmp.PULL_RESP and not self.allowed(datagram.eui, addr):
            self.refused_datagrams += 1
            if self.refused_datagrams in (1, 10, 100) or self.refused_datagrams % 1000 == 0:
                log.warning(
                    "transport=%s %d datagrams refused, the last from gateway %s at %s: not on the allow-lists",
                    self.name,
                    self.refused_datagrams,
                    datagram.eui.hex(),
                    addr,
                )
            return
        answer = gwmp.ack_for(datagram)
        if answer is not None and self._udp is not None:
            self._udp.sendto(answer, addr)
        if datagram.ident == gwmp.PUSH_DATA:
            payload = datagram.json()
            if not isinstance(payload, dict) or not isinstance(payload.get("rxpk", []), list):
                raise ValueError("PUSH_DATA is not an object with an rxpk list")
            for rxpk in payload.get("rxpk", []):
                if not isinstance(rxpk, dict):
                    raise ValueError("an rxpk entry is not an object")
                self._rxpk(rxpk, datagram.eui)
        elif datagram.ident == gwmp.PULL_DATA:
            if datagram.eui not in self._pull_addr and len(self._pull_addr) >= MAX_FORWARDERS:
                raise ValueError("more than %d forwarders: PULL_DATA from a new one ignored" % MAX_FORWARDERS)
            now = self.clock.now()
            known = self._pull_addr.get(datagram.eui)
            if known is not None and known != addr and now - self._pulled_at[datagram.eui] < PULL_HELD_S:
                self.conflicting_pulls += 1
                log.warning(
                    "transport=%s PULL_DATA for gateway %s from %s while %s pulls for it: refused (a spoofer, "
                    "or a second forwarder with the same EUI)",
                    self.name,
                    datagram.eui.hex(),
                    addr,
                    known,
                )
                return
            self._pull_addr[datagram.eui] = addr
            self._pulled_at[datagram.eui] = now
        elif datagram.ident == gwmp.TX_ACK:
            body = datagram.json()
            self.tx_acks.append(body)
            error = body.get("txpk_ack", {}).get("error", "NONE") if isinstance(body, dict) else "NONE"
            if error not in ("NONE", ""):
                log.warning("transport=%s downlink refused by forwarder: %s", self.name, error)
        else:
            raise ValueError("GWMP %s not expected from a forwarder" % gwmp.NAMES[datagram.ident])

    def _rxpk(self, rxpk: dict[str, Any], eui: bytes) -> None:
        if rxpk.get("modu", "LORA") == "LORA" and rxpk.get("stat", 1) == -1:
            # The radio demodulated something whose CRC failed. Now and then that is a
            # collision; a steady stream of it is someone transmitting over the channel.
            self.crc_failures += 1
            self.receiver.on_interference(self.name, self.clock.now())
            return
        if rxpk.get("modu", "LORA") != "LORA" or rxpk.get("stat", 1) != 1:
            return  # FSK, or no CRC: not ours to judge
        packet = gwmp.packet_of(rxpk)
        datr = str(rxpk.get("datr", "SF7BW125"))
        sf = int(datr[2 : datr.index("BW")]) if datr.startswith("SF") and "BW" in datr else None
        freq = _number(rxpk.get("freq"), "freq")
        if freq is not None and not 0 < freq < 10_000:
            raise ValueError("freq %r is not a frequency in MHz" % freq)
        frequency_hz = None if freq is None else int(round(freq * 1_000_000))
        tmst = rxpk.get("tmst")
        if tmst is not None and (not isinstance(tmst, int) or isinstance(tmst, bool) or not 0 <= tmst < 2**32):
            raise ValueError("tmst is not a 32-bit count of microseconds")
        reply = {
            "eui": eui,
            "tmst": tmst,
            "freq": rxpk.get("freq"),
            "datr": datr,
            "codr": rxpk.get("codr", "4/5"),
            "rfch": rxpk.get("rfch", 0),
        }
        reception = Reception(
            self.name,
            self.clock.now(),
            rssi_dbm=_number(rxpk.get("rssi"), "rssi"),
            snr_db=_number(rxpk.get("lsnr"), "lsnr"),
            frequency_hz=frequency_hz,
            sf=sf,
            reply_to=reply,
        )
        self.receiver.on_packet(packet, reception)

    def send(self, packet: bytes, reception: Reception) -> bool:
        reply = reception.reply_to
        udp = self._udp
        if udp is None or not isinstance(reply, dict):
            return False
        addr = self._pull_addr.get(reply["eui"])
        if addr is None:
            log.warning(
                "transport=%s no PULL_DATA from gateway %s yet: downlink dropped", self.name, reply["eui"].hex()
            )
            return False
        txpk: dict[str, Any] = {
            "freq": reply["freq"],
            "rfch": reply["rfch"],
            "powe": self.config.downlink_power_dbm,
            "modu": "LORA",
            "datr": reply["datr"],
            "codr": reply["codr"],
            "ipol": True,
        }
        if reply.get("tmst") is not None:
            txpk["imme"] = False
            txpk["tmst"] = (int(reply["tmst"]) + self.config.downlink_delay_ms * 1000) & 0xFFFFFFFF
        else:
            txpk["imme"] = True
        token = random.getrandbits(16).to_bytes(2, "big")
        udp.sendto(gwmp.pull_resp(token, packet, **txpk), addr)
        return True
