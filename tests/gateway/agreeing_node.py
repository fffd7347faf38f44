"""A frame-level node that agrees its next key as the firmware does (`device/node.py`): it
opens its downlinks under its current key, answers a KEYOFFER with a KEYX (its own ephemeral
X25519 half), and takes the agreed key only when the gateway acknowledges that KEYX."""

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol.errors import FrameRejected
from protocol.framing import Deframer, encode_frame
from protocol.key_agreement import agreed_key, offer_check, public_fields, public_from_fields
from protocol.keys import NodeKey
from protocol.messages import BY_ID, DOWN
from protocol.packet import open_packet
from simulators.frame_node import SimNode


class AgreeingNode(SimNode):
    def __init__(self, node_id: int, **kwargs: int) -> None:
        super().__init__(node_id, **kwargs)  # type: ignore[arg-type]
        self.downs = Deframer()
        self.last_down: int | None = None
        self.epoch = 0
        self.answers: list[bytes] = []  # KEYX frames to write, in order
        self._answer_ctrs: list[int] = []
        self._next: tuple[int, bytes] | None = None  # (epoch, agreed key) until acked
        self.offers: list[bytes] = []  # the gateway publics offered

    def hear(self, data: bytes) -> list[str]:
        """The downlinks in `data`, by name ("refused" for one that does not open)."""
        names = []
        self.downs.feed(data)
        while (packet := self.downs.next_packet()) is not None:
            try:
                opened = open_packet(self.key, self.site_id, packet, DOWN, self.last_down)
            except FrameRejected:
                names.append("refused")
                continue
            self.last_down = opened.ctr
            name = BY_ID[opened.type_id].name
            names.append(name)
            if name == "KEYOFFER" and opened.fields["epoch"] != self.epoch:
                self._answer(opened.fields)
            elif name == "ACK" and self._next is not None and opened.fields["acked_ctr"] in self._answer_ctrs:
                self.epoch, raw = self._next
                self.key, self._next = NodeKey(raw), None
        return names

    def _answer(self, fields: dict[str, int]) -> None:
        gateway_public = public_from_fields("g", fields)
        if gateway_public in self.offers:
            return  # offered again: the answer already went
        self.offers.append(gateway_public)
        secret = X25519PrivateKey.generate()
        public = secret.public_key().public_bytes_raw()
        shared = secret.exchange(X25519PublicKey.from_public_bytes(gateway_public))
        epoch = fields["epoch"]
        self._next = (epoch, agreed_key(shared, self.node_id, epoch, gateway_public, public))
        self._answer_fields = dict(public_fields("n", public), epoch=epoch, offer=offer_check(gateway_public))
        self.answers.append(self.answer_again())

    def answer_again(self) -> bytes:
        """The KEYX sent again, as the firmware retransmits it: a fresh counter, the same half."""
        self._answer_ctrs.append(self.ctr)
        boot, self.boot = self.boot, None  # bare, never in an envelope, as the firmware sends it
        frame = encode_frame(self.packet("KEYX", self._answer_fields, ack_req=True))
        self.boot = boot
        return frame

    @property
    def next_key(self) -> bytes | None:
        return self._next[1] if self._next else None
