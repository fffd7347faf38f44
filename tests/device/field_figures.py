"""FIELD.md's figures that specs of both rooms check against (one table for both). Runs on
CPython and MicroPython."""

# FIELD.md / DESIGN.md: BW125, CR 4/5, 8-symbol preamble, explicit header, CRC on.
KNOWN_MS = (
    (16, 7, 51.5),
    (16, 10, 329.7),
    (16, 12, 1318.9),
    (24, 7, 61.7),
    (24, 10, 370.7),
    (24, 12, 1482.8),
    (32, 7, 71.9),
    (32, 10, 452.6),
    (32, 12, 1810.4),
)
