"""How packets leave and reach the node: a serial line (UART/RS-485) or a LoRa modem.

A link has `airtime_ms(size)` (what the duty-cycle budget is charged), `async send(packet)`
and `receive()` (the next packet heard, or None; never blocks)."""
