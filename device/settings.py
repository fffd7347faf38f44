"""The node's adjustable settings (CONFIG downlinks), persisted so a reboot keeps them."""

DEFAULTS = (
    ("heartbeat_s", 60),
    ("fence_threshold", 48),
    ("cut_threshold", 24),
    ("acoustic_snr_db", 12),
    ("impact_threshold", 2000),
    ("armed", 1),
    ("config_id", 0),
)
# CONFIG's `set` bits, in protocol.messages.CONFIG_KEYS order.
CONFIG_BITS = ("heartbeat_s", "fence_threshold", "cut_threshold", "acoustic_snr_db", "impact_threshold", "armed")
MIN_HEARTBEAT_S = 10  # a forged-looking CONFIG cannot make the node flood its own link


class Settings:
    def __init__(self, store, impact_default=None):
        # `impact_default`: a ground node's geophone wants its own (device/node.py).
        self._store = store
        get = store.get
        self.heartbeat_s = get("cfg.heartbeat_s", DEFAULTS[0][1])
        self.fence_threshold = get("cfg.fence_threshold", DEFAULTS[1][1])
        self.cut_threshold = get("cfg.cut_threshold", DEFAULTS[2][1])
        self.acoustic_snr_db = get("cfg.acoustic_snr_db", DEFAULTS[3][1])
        self.impact_threshold = get("cfg.impact_threshold", impact_default or DEFAULTS[4][1])
        self.armed = get("cfg.armed", DEFAULTS[5][1])
        self.config_id = get("cfg.config_id", DEFAULTS[6][1])

    def apply_config(self, fields):
        """Apply a CONFIG body: only the fields its `set` bits name. Returns their names."""
        changed = []
        for bit, name in enumerate(CONFIG_BITS):
            if fields["set"] & (1 << bit):
                value = fields[name]
                if name == "heartbeat_s" and value < MIN_HEARTBEAT_S:
                    value = MIN_HEARTBEAT_S
                setattr(self, name, value)
                self._store.set("cfg." + name, value)
                changed.append(name)
        self.config_id = fields["config_id"]
        self._store.set("cfg.config_id", self.config_id)
        return changed
