"""A node as the firmware behaves: every event is sent with `ack_req` and sent again, with a
fresh counter, until its ACK comes back; the spec then asks which events were acked."""

import time

from simulators.frame_node import SimNode
from simulators.pty_link import Pty


class RetryingNode:
    def __init__(self, node_id: int, pty: Pty, retry_s: float = 0.5) -> None:
        self.node = SimNode(node_id)
        self.pty = pty
        self.retry_s = retry_s
        self.acked: set[int] = set()
        self.pending: dict[int, float] = {}  # event_no -> when last sent
        self._event_of_ctr: dict[int, int] = {}
        self.next_event = 1

    def _send(self, event_no: int) -> None:
        self._event_of_ctr[self.node.ctr] = event_no
        self.pending[event_no] = time.time()
        if self.pty.master is not None:  # unplugged: the transmission is lost, as on a cut cable
            self.pty.write(self.node.fence(event_no=event_no), drop_when_full=True)

    def detect(self) -> int:
        """A new event, sent at once."""
        event_no = self.next_event
        self.next_event += 1
        self._send(event_no)
        return event_no

    def tick(self) -> None:
        """Read ACKs; retransmit what has waited `retry_s` without one."""
        if self.pty.master is not None:
            for ctr in self.node.take_acks(self.pty.read()):
                event_no = self._event_of_ctr[ctr]
                self.acked.add(event_no)
                self.pending.pop(event_no, None)
        for event_no, sent in list(self.pending.items()):
            if time.time() - sent > self.retry_s:
                self._send(event_no)

    @property
    def detected(self) -> set[int]:
        return set(range(1, self.next_event))
