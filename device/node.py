"""A sensor node: three detector pipelines, the link, heartbeats, downlinks and supervision.

One asyncio task per sensor pipeline, one for the link, one for heartbeats, one for the
tamper switch and battery, and the supervisor that feeds the watchdog only when all of
them are alive (DESIGN.md: device firmware rules). Everything the node needs comes from
`board` (sensors, link, clock, watchdog, reset), so the same code runs on an ESP32, an
RP2040 or the unix port with simulated buses, and one process can host several nodes.
"""

import asyncio
import os

from device.counter import FrameCounter, count_boot
from device.delivery import ALARM, HEARTBEAT, LOW, DeliveryQueue
from device.detect import acoustic, fence, impact, thud
from device.detect.kernels import zeros
from device.downlink import ACK, COMMAND, CONFIG, KEYOFFER, DownlinkGuard
from device.keyslot import MemoryBlocks, read_key, write_key
from device.settings import Settings
from device.supervisor import Supervisor
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, CAPABILITIES, PADDED_BODY
from protocol.packet import OVERHEAD

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython (the simulators' hosts): nothing to lock

    def heap_lock():  # type: ignore[misc]
        pass

    heap_unlock = heap_lock

FIRMWARE = (0, 7, 2)
_T = {
    name: BY_NAME[name].type_id
    for name in ("HELLO", "HEARTBEAT", "FENCE", "ACOUSTIC", "IMPACT", "THUD", "TAMPER", "FAULT", "KEYX")
}
_CAP = {name: bit for bit, name in CAPABILITIES.items()}

# NODE_STATUS bits
_TAMPER = 1 << 0
_ARMED = 1 << 1
_BATTERY_LOW = 1 << 5
_QUEUE_FULL = 1 << 7
# FAULT codes and their NODE_STATUS bits
FAULT_ACCELEROMETER = 1
FAULT_MICROPHONE = 2
FAULT_IMPACT = 3
FAULT_BATTERY = 4
_FAULT_STATUS = {
    FAULT_ACCELEROMETER: 1 << 2,
    FAULT_MICROPHONE: 1 << 3,
    FAULT_IMPACT: 1 << 4,
    FAULT_BATTERY: _BATTERY_LOW,
}

_LINK_POLL_MS = 20
_FIFO_POLL_MS = 25  # the ADXL345 FIFO holds 32 samples = 40 ms at 800 Hz
_HOUSEKEEPING_MS = 500
_LARGEST_PACKET = OVERHEAD + PADDED_BODY  # bytes, for the duty-cycle check before a counter is spent
_LADDER_SLICE = 1  # X25519 steps between yields: at most 9.6 ms on an RP2040 with the node loaded


class Node:
    # What this kind of node senses (HELLO's capabilities) and the impact threshold it
    # starts with; a ground node (device/ground_node.py) has only the impact channel.
    SENSORS = ("accelerometer", "microphone", "impact")  # type: tuple[str, ...]  # a constant: no heap
    IMPACT_THRESHOLD = 0  # 0: settings.py's default
    IMPACT_STEP_MS = 0  # an IMPACT waits this long per halving of its peak under full scale

    def __init__(self, board, identity, store, key_blocks=None):
        self.board = board
        self.clock = board.clock
        self.node_id = identity["node_id"]
        self.settings = Settings(store, self.IMPACT_THRESHOLD)
        self.boot_count = count_boot(store)
        counter = FrameCounter(store)
        encrypted = identity.get("encrypted", True)
        self.store = store
        # The key on flash (device/keyslot.py): the deployed one, or a later epoch's agreed
        # with the gateway. A node without a key slot (a simulation) starts on its identity's.
        self.key_blocks = key_blocks if key_blocks is not None else MemoryBlocks()
        stored = read_key(self.key_blocks)
        self.key_epoch = stored[0] if stored else 0
        key = NodeKey(stored[1]) if stored else identity["key"]
        self.queue = DeliveryQueue(
            key,
            identity["site_id"],
            self.node_id,
            counter,
            self.clock.random_ms,
            encrypted=encrypted,
            uplinks=identity.get("uplinks", "enveloped"),
            boot=self.boot_count,
        )
        if hasattr(board.link, "airtime_ms"):  # a radio: spread first transmissions over 4 airtimes
            self.queue.spread_ms = 4 * board.link.airtime_ms(_LARGEST_PACKET)
        self.downlinks = DownlinkGuard(key, identity["site_id"], store, encrypted=encrypted)
        self._detectors(self.settings)
        self.supervisor = Supervisor(board.watchdog)
        self.event_no = 0
        self.status = 0
        self.walk_test_until = -1
        self.reboot_requested = False
        self.reports = 0  # events handed to the delivery queue
        self.heap_misses = 0  # blocks a detector could not process with the heap locked (_unlocked)
        self.started_ms = self.clock.now_ms()
        # A key agreement under way: [epoch, gateway public, node public or None, next key or
        # None, its KEYX's event in the queue or None], and the task computing it.
        self._agreement = None
        self._agreeing = None

    def _detectors(self, s):
        self.fence = fence.FenceDetector(s.fence_threshold, s.cut_threshold)
        self.acoustic = acoustic.AcousticDetector(s.acoustic_snr_db)
        self._mic_fault = acoustic.MIC_OK  # the detector's microphone fault last reported
        self.thud = thud.ThudDetector()  # a package landing, heard by the microphone
        self.impact = impact.ImpactDetector(s.impact_threshold)
        self._audio = zeros("h", acoustic.FRAME_SAMPLES)  # also used by the self-test

    # -- reporting -------------------------------------------------------------------------

    def _event(self, type_name, fields, priority, delay_ms=0):
        self.event_no = (self.event_no + 1) & 0xFFFF
        fields["event_no"] = self.event_no
        fields["age_ds"] = 0
        self.reports += 1
        if not self.queue.submit(_T[type_name], fields, priority, True, self.clock.now_ms(), delay_ms):
            self.status |= _QUEUE_FULL

    @property
    def walk_test(self):
        return self.clock.now_ms() < self.walk_test_until

    def _reporting(self):
        return self.settings.armed or self.walk_test

    def hello(self):
        caps = 0
        for name in self.SENSORS:
            caps |= 1 << _CAP[name]
        for name in ("tamper_switch", "battery"):
            caps |= 1 << _CAP[name]
        caps |= 1 << _CAP[self.board.link_kind]
        fields = {
            "fw_major": FIRMWARE[0],
            "fw_minor": FIRMWARE[1],
            "fw_patch": FIRMWARE[2],
            "boot_count": self.boot_count & 0xFFFFFFFF,
            "reset_cause": self.board.reset_cause,
            "capabilities": caps,
            "heartbeat_s": self.settings.heartbeat_s,
            "config_id": self.settings.config_id,
        }
        # With ack_req: event ids are (boot, event_no), so the gateway must learn of the boot.
        self.queue.submit(_T["HELLO"], fields, ALARM, True, self.clock.now_ms())

    def heartbeat(self):
        status = self.status | (_ARMED if self.settings.armed else 0)
        status |= _TAMPER if self.board.tamper.open else 0
        fields = {
            "battery_mv": min(self.board.battery.millivolts(), 0xFFFF),
            "temperature_dc": self.board.temperature_dc(),
            "status": status,
            "downlink_rssi_dbm": max(-128, min(127, getattr(self.board.link, "last_rssi", -128))),
            "fence_floor": 0,  # a ground node has neither (device/ground_node.py)
            "acoustic_floor": 0,
            "impact_floor": min(self.impact.noise_floor, 0xFFFF),
            "queued": min(len(self.queue), 255),
            "uptime_s": ((self.clock.now_ms() - self.started_ms) // 1000) & 0xFFFFFFFF,
        }
        fence, sound = getattr(self, "fence", None), getattr(self, "acoustic", None)
        if fence is not None and sound is not None:
            fields["fence_floor"] = min(fence.noise_floor, 0xFFFF)
            fields["acoustic_floor"] = sound.floor
        self.status &= ~_QUEUE_FULL
        self.queue.submit(_T["HEARTBEAT"], fields, HEARTBEAT, False, self.clock.now_ms())

    def fault(self, code, active, detail=0):
        bit = _FAULT_STATUS.get(code, 0)
        if bool(self.status & bit) == bool(active):
            return
        self.status = (self.status | bit) if active else (self.status & ~bit)
        self._event("FAULT", {"code": code, "state": 1 if active else 0, "detail": detail}, ALARM)

    def _fence_decided(self, decided):
        if not self._reporting():
            return
        det = self.fence
        # A rattle, and a faint climb (only a neighbour's report can make it an alarm), go
        # after the node's alarms and clears: in rain they are frequent, and a drone's clear
        # stuck behind them let a second's false detection pass for a drone heard for 2 s.
        priority = LOW if decided in (fence.RATTLE, fence.FAINT) and not self.walk_test else ALARM
        fields = {
            "class": decided,
            "peak": min(det.peak, 0xFFFF),
            "noise_floor": min(det.noise_floor, 0xFFFF),
            "pulses": det.pulses,
            "duration_ds": min(det.duration_ds, 0xFFFF),
        }
        self._event("FENCE", fields, priority)

    def _acoustic_decided(self, decided):
        if not self._reporting():
            return
        det = self.acoustic
        fields = {
            "class": decided,
            "fundamental_hz": det.fundamental_hz,
            "harmonics": det.harmonics,
            "snr_db": det.snr_db,
            "confidence": det.confidence,
            "duration_ds": min(det.duration_ds, 0xFFFF),
        }
        # The clear as promptly as the detection: the gateway trusts a drone only once it has
        # been heard for 2 s without a break, and a clear held back by the duty cycle would
        # let a second's false detection (a gust, a bark) pass for one.
        self._event("ACOUSTIC", fields, ALARM)

    def _impact_decided(self):
        if not self._reporting():
            return
        det = self.impact
        fields = {
            "peak": min(det.peak, 0xFFFF),
            "noise_floor": min(det.noise_floor, 0xFFFF),
            "duration_ms": det.duration_ms,
        }
        delay = 0
        if self.IMPACT_STEP_MS and hasattr(self.board.link, "airtime_ms"):
            # Every ground node that felt a landing decides it at the same moment: on a radio
            # they would all key up together. As THUDs do, the nearer (louder) speak first.
            peak = det.peak if det.peak > 0 else 1
            while peak < 0x8000:
                peak <<= 1
                delay += self.IMPACT_STEP_MS
        self._event("IMPACT", fields, ALARM, delay)

    def _thud_decided(self):
        if not self._reporting():
            return
        det = self.thud
        fields = {"level_db": det.level_db, "floor_db": det.floor_db, "duration_ms": det.duration_ms}
        # Every node that heard the landing decides at the same moment: on a radio they would
        # all key up together and collide. The louder (nearer) a node heard it, the sooner it
        # speaks, 25 ms per dB under 90 dB: the gateway hears the two nearest first, and
        # those place the landing best.
        quieter = 90 - det.level_db if det.level_db < 90 else 0
        self._event("THUD", fields, ALARM, quieter * 25 if hasattr(self.board.link, "airtime_ms") else 0)

    # -- downlinks -------------------------------------------------------------------------

    def on_downlink(self, packet):
        """Handle one received packet; forged or replayed ones are dropped (counted)."""
        opened = self.downlinks.open(packet)
        if opened is None:
            return None
        if opened.type_id == ACK:
            acked = self.queue.on_ack(opened.fields["acked_ctr"])
            if acked is not None and acked.type_id == _T["KEYX"]:
                self._key_agreed(acked)
        elif opened.type_id == CONFIG:
            self.settings.apply_config(opened.fields)
            self._apply_settings()
            self.hello()  # tells the gateway the config_id and heartbeat now in force
        elif opened.type_id == COMMAND:
            self._command(opened.fields["command"], opened.fields["arg"])
        elif opened.type_id == KEYOFFER:
            self._key_offered(opened.fields)
        # A REKEY (a key handed over, gateways before 0.2) is opened and ignored: whoever
        # holds the current key would read the next one in it.
        return opened

    # -- key changes (protocol/key_agreement.py) ------------------------------------------

    def _key_offered(self, fields):
        """The gateway offers a key agreement for `epoch`: answer it (once per offer; a
        repeated offer re-sends the answer if the queue gave it up)."""
        epoch = fields["epoch"]
        if epoch == self.key_epoch:
            return  # offered again before the gateway heard this node on the new key
        # Imported at a key change only: the full node's heap has no room for modules it
        # needs once a year (frozen code costs no heap, its module objects do).
        from protocol.key_agreement import public_from_fields

        public = public_from_fields("g", fields)
        agreement = self._agreement
        if agreement is not None and agreement[0] == epoch and agreement[1] == public:
            if agreement[2] is not None and not self.queue.holds(agreement[4]):
                self._answer(agreement)
            return
        # A new offer (the gateway lost the last one): what was under way is dropped.
        if self._agreeing is not None:
            self._agreeing.cancel()
        if agreement is not None and agreement[4] is not None:
            self.queue.withdraw(agreement[4])
        self._agreement = [epoch, public, None, None, None]
        self._agreeing = asyncio.create_task(self._agree(self._agreement))

    async def _agree(self, agreement):
        """Both X25519 multiplications a step at a time (about 2.9 s on an RP2040), the
        detectors running between them; then the KEYX. The secret lives only in this task."""
        from protocol import x25519
        from protocol.key_agreement import agreed_key

        secret = os.urandom(32)  # the RP2040's ring oscillator, the ESP32's hardware RNG
        results = []
        for u in (x25519.BASE, agreement[1]):
            n = 0
            for out in x25519.steps(secret, u):
                if out is not None:
                    results.append(out)
                n += 1
                if n % _LADDER_SLICE == 0:
                    await self.clock.sleep_ms(0)
        node_public, shared = results
        del secret
        self._agreeing = None
        if shared == bytes(32):
            return  # a low-order point: no gateway offers that, so no answer
        agreement[2] = node_public
        agreement[3] = agreed_key(shared, self.node_id, agreement[0], agreement[1], node_public)
        self._answer(agreement)

    def _answer(self, agreement):
        from protocol.key_agreement import offer_check, public_fields

        fields = public_fields("n", agreement[2])
        fields["epoch"] = agreement[0]
        fields["offer"] = offer_check(agreement[1])
        self.queue.submit(_T["KEYX"], fields, LOW, True, self.clock.now_ms())
        agreement[4] = fields  # the queue knows its message by its fields

    def _key_agreed(self, acked):
        """The gateway acknowledged the KEYX, so it holds the agreed key: on flash first,
        then in use for everything."""
        agreement = self._agreement
        if agreement is None or acked.fields is not agreement[4]:
            return  # an answer to an offer since replaced
        write_key(self.key_blocks, agreement[0], agreement[3])
        key = NodeKey(agreement[3])
        self.key_epoch = agreement[0]
        self.queue.rekey(key)
        self.downlinks.rekey(key)
        self._agreement = None

    def _apply_settings(self):
        s = self.settings
        self.impact.impact_threshold = s.impact_threshold
        self.fence.fence_threshold = s.fence_threshold
        self.fence.cut_threshold = s.cut_threshold
        self.acoustic.set_snr_db(s.acoustic_snr_db)

    def _command(self, command, arg):
        if command == 1:  # ping
            self.heartbeat()
        elif command == 2:  # reboot, once what is queued has had its chance
            self.reboot_requested = True
        elif command == 3:  # self-test
            self.self_test()
            self.heartbeat()
        elif command == 4:  # walk test for `arg` seconds (0 ends it)
            self.walk_test_until = self.clock.now_ms() + arg * 1000 if arg else -1

    def self_test(self):
        board = self.board
        self.fault(FAULT_IMPACT, not board.impact.self_test())
        self.fault(FAULT_ACCELEROMETER, not board.accelerometer.self_test())
        self.fault(FAULT_MICROPHONE, not board.microphone.self_test(self._audio))

    # -- tasks -----------------------------------------------------------------------------

    async def _fence_task(self, bit):
        xyz = zeros("h", 3 * fence.BLOCK_SAMPLES)
        filled = 0
        accelerometer = self.board.accelerometer
        while True:
            await self.clock.sleep_ms(_FIFO_POLL_MS)
            try:
                filled += accelerometer.read_fifo(xyz, filled, fence.BLOCK_SAMPLES - filled)
            except OSError:
                self.fault(FAULT_ACCELEROMETER, True)
            if filled == fence.BLOCK_SAMPLES:
                filled = 0
                heap_lock()  # see _unlocked
                try:
                    decided = self.fence.process(xyz)
                except MemoryError:
                    decided = self._unlocked()
                finally:
                    heap_unlock()
                if decided:
                    self._fence_decided(decided)
            self.supervisor.check_in(bit)

    def _unlocked(self):
        """A detector needed the heap for one block (a bug: their specs prove none does): that
        block decides nothing, and it is counted. The detectors run with the heap locked for
        speed, not only as a proof: MicroPython gives a function whose frame is over 11 words
        its frame from the heap at every call and frees it after (py/objfun.c,
        VM_MAX_STATE_ON_STACK), and on a node's crowded, fragmented heap finding that room
        cost more than the detectors' own work (the three together 6.8x real time on the
        emulated RP2040 with 40 KB free, 11.9x with the heap locked, whatever is free): with
        the heap locked the frame goes on the C stack instead. The lock is written out in each
        task, not in a helper: a helper's own frame would come from the heap."""
        self.heap_misses += 1
        return 0

    async def _acoustic_task(self, bit):
        microphone = self.board.microphone
        while True:
            await self.clock.sleep_ms(acoustic.FRAME_MS)
            if microphone.read_frame(self._audio):
                heap_lock()  # see _unlocked
                try:
                    decided = self.acoustic.process(self._audio)
                    landed = self.acoustic.fault == acoustic.MIC_OK and self.acoustic.low_q4 >= 0
                    landed = landed and self.thud.process(self.acoustic.low_q4) == thud.THUD
                except MemoryError:
                    decided = landed = self._unlocked()
                finally:
                    heap_unlock()
                if decided:
                    self._acoustic_decided(decided)
                if landed:
                    self._thud_decided()
                if self.acoustic.fault != self._mic_fault:  # dead, stuck, clipping, floor lost
                    self._mic_fault = self.acoustic.fault
                    self.fault(FAULT_MICROPHONE, self._mic_fault != acoustic.MIC_OK, self._mic_fault)
            self.supervisor.check_in(bit)

    async def _impact_task(self, bit):
        # A ground node's detector (device/detect/ground.py) takes the same 50-sample blocks
        # and answers with the same IMPACT.
        samples = zeros("H", impact.BLOCK_SAMPLES)
        channel = self.board.impact
        while True:
            await self.clock.sleep_ms(impact.BLOCK_MS)
            if self.board.read_impact(channel, samples, impact.BLOCK_SAMPLES):
                heap_lock()  # see _unlocked
                try:
                    decided = self.impact.process(samples)
                except MemoryError:
                    decided = self._unlocked()
                finally:
                    heap_unlock()
                if decided == impact.IMPACT:
                    self._impact_decided()
            self.supervisor.check_in(bit)

    async def _link_task(self, bit):
        link = self.board.link
        reboot_at = None
        while True:
            await self.clock.sleep_ms(_LINK_POLL_MS)
            packet = link.receive()
            while packet is not None:
                self.on_downlink(packet)
                packet = link.receive()
            now = self.clock.now_ms()
            top = self.queue.next_priority(now)
            if top is not None and (not hasattr(link, "allows") or link.allows(_LARGEST_PACKET, top < ALARM)):
                frame = self.queue.next_frame(now)
                if frame is not None:
                    if self.queue.escalated and hasattr(link, "hop"):
                        link.hop()
                    await link.send(frame)
            if self.reboot_requested:
                if reboot_at is None:
                    reboot_at = now + 2000
                elif now >= reboot_at:
                    self.board.reset()
            self.supervisor.check_in(bit)

    async def _heartbeat_task(self, bit):
        last = self.clock.now_ms()
        # Up to a tenth of the interval longer each time, at random: nodes that came up
        # together (after a site power cut) drift apart instead of beating in step forever.
        # The beat goes out at its own millisecond, not on the loop's next whole second: nodes
        # that booted in the same instant would otherwise share seconds, and on one radio
        # channel a shared second is a collision (a storm's 32 nodes lost 3 in 10 beats so).
        extra = self.clock.random_ms(self.settings.heartbeat_s * 100 + 1)
        while True:
            due = last + self.settings.heartbeat_s * 1000 + extra  # a CONFIG may change it any time
            await self.clock.sleep_ms(max(1, min(1000, due - self.clock.now_ms())))
            now = self.clock.now_ms()
            if now >= last + self.settings.heartbeat_s * 1000 + extra:
                self.heartbeat()
                last = now
                extra = self.clock.random_ms(self.settings.heartbeat_s * 100 + 1)
            self.supervisor.check_in(bit)

    async def _housekeeping_task(self, bit):
        tamper = self.board.tamper
        battery = self.board.battery
        while True:
            await self.clock.sleep_ms(_HOUSEKEEPING_MS)
            if tamper.poll():
                # Tamper is reported armed or not: an open enclosure is never routine.
                self._event("TAMPER", {"kind": 1, "state": 1 if tamper.open else 0}, ALARM)
            self.fault(FAULT_BATTERY, battery.is_low(), battery.millivolts())
            self.supervisor.check_in(bit)

    async def _supervisor_task(self):
        while True:
            await self.clock.sleep_ms(self.supervisor.period_ms)
            if not self.supervisor.look():
                self.board.log("watchdog not fed: stalled %s" % ",".join(self.supervisor.stalled_names()))

    def start(self):
        """Create every task; returns them (a simulation cancels them to stop the node)."""
        self.hello()
        if hasattr(self.board.link, "start"):
            self.board.link.start()
        tasks = []
        # The fence's and the microphone's pipelines where the node has them (a ground node
        # has the impact channel alone; no method of its own for that: each costs heap).
        pipelines = (("fence", self._fence_task), ("acoustic", self._acoustic_task)) if len(self.SENSORS) > 1 else ()
        for name, task in pipelines + (
            ("impact", self._impact_task),
            ("link", self._link_task),
            ("heartbeat", self._heartbeat_task),
            ("housekeeping", self._housekeeping_task),
        ):
            tasks.append(asyncio.create_task(task(self.supervisor.register(name))))
        tasks.append(asyncio.create_task(self._supervisor_task()))
        return tasks
