"""X25519 (RFC 7748) for the node, which has no such primitive: MicroPython's big integers.

A node key change is to be agreed, not handed over (issue 31): gateway and node each make an
ephemeral key pair, swap the public halves in frames sealed under the current node key, and
both derive the next node key from the shared secret. Recorded traffic, or the old key alone,
then gives nothing of the new one. The gateway uses `cryptography`'s X25519; this is the same
function for the node (and the reference the specs hold both against).

The Montgomery ladder over GF(2^255 - 19), with the swap done arithmetically; big-integer
arithmetic is not constant-time on either interpreter, so a node's scalar could leak through
precise timing of many agreements. A node makes a fresh scalar for each agreement and throws it
away, so one agreement's timing is all an attacker could ever measure of it.
"""

P = (1 << 255) - 19
A24 = 121665
BASE = b"\x09" + b"\x00" * 31  # the u-coordinate 9: the base point
_LOW_255 = (1 << 255) - 1
_P_MINUS_2 = P - 2


def clamp(scalar: bytes) -> int:
    """A 32-byte secret as the scalar X25519 multiplies by (RFC 7748, section 5)."""
    if len(scalar) != 32:
        raise ValueError("an X25519 scalar is 32 bytes")
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return int.from_bytes(bytes(k), "little")


def x25519(scalar: bytes, u: bytes) -> bytes:
    """`scalar` times the point whose u-coordinate is `u`: the 32-byte result."""
    out = None
    for out in steps(scalar, u):  # noqa: B007  # the last thing it yields is the result
        pass
    assert isinstance(out, bytes)
    return out


def steps(scalar: bytes, u: bytes):  # type: ignore[no-untyped-def]  # a generator: no typing module on the node
    """`x25519` a step at a time, for a node that must keep its detectors running meanwhile:
    yields None after each ladder step and each 8 bits of the final inversion (about 300
    yields), then the 32-byte result. On the RP2040 a whole multiplication takes about 0.8 s;
    a step is a few milliseconds."""
    if len(u) != 32:
        raise ValueError("an X25519 u-coordinate is 32 bytes")
    k = clamp(scalar)
    x1 = int.from_bytes(u, "little") & _LOW_255
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        swap ^= bit
        # Conditional swap without a branch on the secret bit (mask is 0 or all ones).
        mask = -swap
        d = (x2 ^ x3) & mask
        x2 ^= d
        x3 ^= d
        d = (z2 ^ z3) & mask
        z2 ^= d
        z3 ^= d
        swap = bit
        a = x2 + z2
        aa = a * a % P
        b = x2 - z2
        bb = b * b % P
        e = aa - bb
        c = x3 + z3
        dd = x3 - z3
        da = dd * a % P
        cb = c * b % P
        s = da + cb
        x3 = s * s % P
        s = da - cb
        z3 = x1 * (s * s % P) % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
        yield None
    mask = -swap
    d = (x2 ^ x3) & mask
    x2 ^= d
    d = (z2 ^ z3) & mask
    z2 ^= d
    # 1/z2 = z2^(P-2) (Fermat), square-and-multiply in slices: `pow` would run it in one go.
    # The exponent is public, so branching on its bits leaks nothing.
    inverse = 1
    for t in range(254, -1, -1):
        inverse = inverse * inverse % P
        if (_P_MINUS_2 >> t) & 1:
            inverse = inverse * z2 % P
        if not t & 7:
            yield None
    yield (x2 * inverse % P).to_bytes(32, "little")


def public_key(secret: bytes) -> bytes:
    """The public half of a 32-byte secret."""
    return x25519(secret, BASE)


def shared_secret(secret: bytes, their_public: bytes) -> bytes:
    """What both sides compute; all zeros (a low-order point sent by an attacker) is refused."""
    shared = x25519(secret, their_public)
    if shared == bytes(32):
        raise ValueError("X25519 gave all zeros: their public key is a low-order point")
    return shared
