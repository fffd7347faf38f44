"""What the node does with a downlink: verify it, refuse replays, and say what it asks for.

A replayed CONFIG that disarms a node, or a replayed reboot, is exactly what an attacker
would capture and send again, so the node keeps the last downlink counter it accepted in its
store. The counter is kept across reboots: a replayed command is refused after a reboot too.
ACKs are checked the same way but, being frequent and harmless to repeat, they only raise
the counter in RAM. It is written to the store with the next CONFIG or COMMAND.
"""

from protocol.errors import FrameRejected
from protocol.messages import BY_NAME, DOWN
from protocol.packet import open_packet

ACK = BY_NAME["ACK"].type_id
CONFIG = BY_NAME["CONFIG"].type_id
COMMAND = BY_NAME["COMMAND"].type_id
KEYOFFER = BY_NAME["KEYOFFER"].type_id


class DownlinkGuard:
    """Opens downlink packets for one node and remembers the highest counter accepted."""

    def __init__(self, key, site_id, store, name="down", encrypted=True):
        self._key = key
        self._site_id = site_id
        self._store = store
        self._name = name
        self.encrypted = encrypted
        stored = store.get(name, -1)
        self.last_ctr = None if stored < 0 else stored
        self.rejected = 0

    def rekey(self, key):
        """From now on only downlinks sealed with `key` (the agreed one) are opened."""
        self._key = key

    def open(self, packet):
        """The decoded downlink, or None if it is forged, replayed or malformed (counted)."""
        try:
            opened = open_packet(self._key, self._site_id, packet, DOWN, self.last_ctr, self.encrypted)
        except FrameRejected:
            self.rejected += 1
            return None
        self.last_ctr = opened.ctr
        if opened.type_id != ACK:
            self._store.set(self._name, opened.ctr)  # before the command is acted on
        return opened
