"""Reliable delivery on the node: what to send next, what to send again, what to give up.

Sans-I/O and clock-free: the link task tells it the time (`now_ms` from the HAL's ticks) and
sends what `next_frame` returns. Messages with `ack_req` are sent again with a fresh counter
(never the same bytes twice, so a replay stays distinguishable from a retransmission) after a
backoff that doubles up to a cap, with jitter so that nodes which lost the same downlink do
not retransmit in step, until an ACK names one of their counters. The queue is bounded: when
it is full, a message of lower priority (a rattle, a heartbeat) makes room for an alarm, and
an alarm is never pushed out by anything less.

An alarm still unanswered after `escalate_after` transmissions is escalated: it goes before
everything else from then on, and `escalated` tells the link that this frame is such a
resend (a LoRa link moves to another channel for it: a jammer may sit on this one).
"""

from protocol.body import encode_body
from protocol.envelope import ENVELOPE_TYPE, wrap
from protocol.messages import ENVELOPED
from protocol.packet import seal_packet

HEARTBEAT = 0  # priorities, lowest first
LOW = 1  # e.g. a fence rattle, a drone track closing
ALARM = 2  # climb, cut, drone, impact, tamper, fault
ESCALATED = 3  # anything unanswered `escalate_after` times

_MAX_AGE_DS = 0xFFFF


class _Pending:
    def __init__(self, type_id, fields, priority, ack_req, created_ms):
        self.type_id = type_id
        self.fields = fields
        self.priority = priority
        self.ack_req = ack_req
        self.created_ms = created_ms
        self.next_ms = created_ms
        self.attempts = 0
        self.ctrs = []  # every counter it went out with: an ACK of any of them acks it


class DeliveryQueue:
    """The node's outgoing messages, for one link."""

    def __init__(
        self,
        key,
        site_id,
        node_id,
        counter,
        random_ms,
        capacity=8,
        base_ms=2000,
        max_ms=60000,
        encrypted=True,
        uplinks="enveloped",
        boot=0,
    ):
        self._key = key
        self._site_id = site_id
        self._node_id = node_id
        self._counter = counter  # device.counter.FrameCounter
        self._random_ms = random_ms  # random_ms(limit) -> 0..limit-1, from the HAL
        self.capacity = capacity
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.encrypted = encrypted
        # "enveloped": every message sealed in an ENVELOPE with the boot and the clock at
        # transmission (the gateway then tells a frame played late from one sent late);
        # "padded": also padded to one length for every type; "bare": as firmware 0.4 sent.
        if uplinks not in ("enveloped", "padded", "bare"):
            raise ValueError("uplinks must be enveloped, padded or bare, not %r" % (uplinks,))
        self.uplinks = uplinks
        self.boot = boot
        self.escalate_after = 3
        self.escalated = False  # whether the frame `next_frame` last returned is an escalated resend
        self._queue = []
        self.dropped = 0  # messages given up because the queue was full
        # On a shared radio channel, neighbours that detect the same climb would transmit in
        # step and collide every time: the first transmission waits up to this long, at random.
        self.spread_ms = 0

    def rekey(self, key):
        """Seal with `key` from the next transmission on (queued messages included: each is
        sealed when it goes out)."""
        self._key = key

    def __len__(self):
        return len(self._queue)

    def submit(self, type_id, fields, priority, ack_req, now_ms, delay_ms=0):
        """Queue a message. False if it was dropped: the queue is full of messages at least
        as important. `fields` are the body's fields; event bodies get `age_ds` set here.
        `delay_ms` holds its first transmission back (the random spread comes on top)."""
        if len(self._queue) >= self.capacity:
            victim = None
            for pending in self._queue:  # the least important, and of those the oldest
                if victim is None or pending.priority < victim.priority:
                    victim = pending
            if victim is None or victim.priority >= priority:
                self.dropped += 1
                return False
            self._queue.remove(victim)
            self.dropped += 1
        pending = _Pending(type_id, fields, priority, ack_req, now_ms)
        if self.spread_ms or delay_ms:
            pending.next_ms = now_ms + delay_ms + (self._random_ms(self.spread_ms) if self.spread_ms else 0)
        self._queue.append(pending)
        return True

    def next_priority(self, now_ms):
        """The priority of what `next_frame` would send now, or None if nothing is due."""
        top = None
        for pending in self._queue:
            if pending.next_ms <= now_ms and (top is None or pending.priority > top):
                top = pending.priority
        return top

    def next_frame(self, now_ms):
        """The next packet to transmit now (highest priority first), or None."""
        chosen = None
        for pending in self._queue:
            if pending.next_ms <= now_ms and (chosen is None or pending.priority > chosen.priority):
                chosen = pending
        if chosen is None:
            return None
        fields = chosen.fields
        if "age_ds" in fields:
            fields["age_ds"] = min((now_ms - chosen.created_ms) // 100, _MAX_AGE_DS)
        ctr = self._counter.next()
        type_id, body, ack_req = chosen.type_id, encode_body(chosen.type_id, fields), chosen.ack_req
        if self.uplinks != "bare" and type_id in ENVELOPED:
            # Sealed now, at each transmission: a retransmission carries a fresh clock.
            body = wrap(type_id, body, ack_req, self.boot, now_ms // 100, self.uplinks == "padded")
            type_id, ack_req = ENVELOPE_TYPE, False
        packet = seal_packet(self._key, self._site_id, type_id, self._node_id, ctr, body, ack_req, self.encrypted)
        # Alarms only: a faint climb or a rattle unanswered in a storm must not jump ahead of a
        # drone's clear (the clear held back lets a second's false detection pass for a drone).
        self.escalated = chosen.priority >= ALARM and chosen.ack_req and chosen.attempts >= self.escalate_after
        if self.escalated:
            chosen.priority = ESCALATED
        chosen.attempts += 1
        if chosen.ack_req:
            chosen.ctrs.append(ctr)
            chosen.next_ms = now_ms + self.backoff_ms(chosen.attempts)
        else:
            self._queue.remove(chosen)
        return packet

    def backoff_ms(self, attempts):
        """Wait before transmission `attempts + 1`: base * 2^(attempts-1), capped, plus up to
        half of it again as jitter."""
        wait = self.base_ms << min(attempts - 1, 16)
        if wait > self.max_ms:
            wait = self.max_ms
        return wait + self._random_ms(wait // 2 + 1)

    def on_ack(self, acked_ctr):
        """An ACK arrived for `acked_ctr`: the message it acknowledges is delivered, and
        returned (its `type_id` and `fields`); None if it matched none (an ACK for something
        already delivered is harmless)."""
        for pending in self._queue:
            if acked_ctr in pending.ctrs:
                self._queue.remove(pending)
                return pending
        return None

    def holds(self, fields):
        """Whether the message submitted with `fields` is still queued."""
        for pending in self._queue:
            if pending.fields is fields:
                return True
        return False

    def withdraw(self, fields):
        """Give up the message submitted with `fields` (a key agreement's answer to an offer
        the gateway has since replaced)."""
        for pending in self._queue:
            if pending.fields is fields:
                self._queue.remove(pending)
                return

    def wake_ms(self):
        """When `next_frame` will next have something to send, or None if nothing is queued."""
        earliest = None
        for pending in self._queue:
            if earliest is None or pending.next_ms < earliest:
                earliest = pending.next_ms
        return earliest
