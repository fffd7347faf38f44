"""What can go wrong with a frame, kept apart from what we did wrong ourselves.

`FrameRejected` is the peer's fault (or the line's, or an attacker's): its `kind` is one of
`KINDS`, the same words the golden vectors and the `perimeter frame decode` tool use.
`EncodeError` is ours: a caller asked to encode something the contract cannot carry.
"""

# The error kinds, in the order a receiver checks them.
CRC = "crc"  # serial line noise: bad COBS or CRC32, or a frame without its delimiter
TRUNCATED = "truncated"  # shorter than the smallest packet
OVERSIZE = "oversize"  # longer than the largest frame (deframer only)
TAG = "tag"  # authentication failed: forgery, wrong site or node key, or corruption
VERSION = "version"  # authentic, but not protocol version 1
TYPE = "type"  # authentic, but a message type unknown here or sent the wrong way
REPLAY = "replay"  # authentic, but its counter is not above the last one accepted
BODY = "body"  # authentic, but the body does not fit its type's layout

KINDS = (CRC, TRUNCATED, OVERSIZE, TAG, VERSION, TYPE, REPLAY, BODY)


class ProtocolError(Exception):
    """Base of every error this package raises."""


class FrameRejected(ProtocolError):
    """A received frame or packet was rejected; `kind` says why."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail

    def __str__(self) -> str:
        return self.kind + ": " + self.detail if self.detail else self.kind


class EncodeError(ProtocolError):
    """We were asked to encode something the wire contract cannot carry."""
