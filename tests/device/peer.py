"""The gateway's side of a node's link, small enough to run inside a MicroPython spec:
verifies what the node sends, acknowledges what asks for it, and sends CONFIG and COMMAND
with its own downlink counter."""

from device.boards.sim import uart_pair
from protocol.body import encode_body
from protocol.framing import Deframer, encode_frame
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, DOWN
from protocol.packet import open_packet, seal_packet

SITE_KEY = bytes(range(32))
SITE_ID = 4242


def identity(node_id=7):
    return {"node_id": node_id, "site_id": SITE_ID, "key": NodeKey.for_node(SITE_KEY, node_id)}


class GatewayPeer:
    def __init__(self, node_id=7, ack=True):
        self.node_id = node_id
        self.key = NodeKey.for_node(SITE_KEY, node_id)
        self.node_uart, self.uart = uart_pair()
        self._deframer = Deframer()
        self.ack = ack
        self.last_ctr = None
        self.down_ctr = 0
        self.received = []  # (type name, fields, ctr, ack_req)
        self.rejected = 0
        self.after_ack = None  # called with each entry acknowledged, once its ACK is sent

    def poll(self):
        """Read what the node sent; ACK what asks for it. Returns the new messages."""
        data = self.uart.read()
        if data:
            self._deframer.feed(data)
        new = []
        packet = self._deframer.next_packet()
        while packet is not None:
            try:
                opened = open_packet(self.key, SITE_ID, packet, 0, self.last_ctr)
            except Exception:
                self.rejected += 1
            else:
                self.last_ctr = opened.ctr
                entry = (BY_NAME_BY_ID[opened.type_id], opened.fields, opened.ctr, opened.ack_req)
                self.received.append(entry)
                new.append(entry)
                if opened.ack_req and self.ack:
                    self.send("ACK", {"acked_ctr": opened.ctr})
                    if self.after_ack is not None:
                        self.after_ack(entry)
            packet = self._deframer.next_packet()
        return new

    def seal(self, type_name, fields, ctr=None):
        if ctr is None:
            self.down_ctr += 1
            ctr = self.down_ctr
        type_id = BY_NAME[type_name].type_id
        return seal_packet(self.key, SITE_ID, type_id, self.node_id, ctr, encode_body(type_id, fields))

    def send(self, type_name, fields, ctr=None):
        packet = self.seal(type_name, fields, ctr)
        self.uart.write(encode_frame(packet))
        return packet

    def names(self):
        return [entry[0] for entry in self.received]

    def of(self, type_name):
        return [entry for entry in self.received if entry[0] == type_name]


BY_NAME_BY_ID = {message.type_id: name for name, message in BY_NAME.items()}
assert DOWN == 1
