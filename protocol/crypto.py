"""The three primitives the contract needs, on whichever interpreter we run.

CPython: HMAC from the standard library, AES from `cryptography`, and
`hmac.compare_digest` for the constant-time tag check. MicroPython: `hashlib.sha256` with
HMAC built here (MicroPython has no `hmac` module; tests check it against RFC 4231), AES
from `cryptolib`, and a compare whose running time does not depend on where bytes differ.
"""

import hashlib
import sys

_MICROPYTHON = sys.implementation.name == "micropython"
_BLOCK = 64  # SHA-256 block size, for HMAC key padding

if _MICROPYTHON:
    import cryptolib

    _AES_ECB = 1  # cryptolib mode constant (MODE_ECB)

    def _pad_key(key: bytes, pad: int) -> bytes:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        padded = bytearray(_BLOCK)
        for i in range(len(key)):
            padded[i] = key[i]
        for i in range(_BLOCK):
            padded[i] ^= pad
        return bytes(padded)

    class HmacSha256:
        """HMAC-SHA256 with a fixed key (RFC 2104), padded keys computed once."""

        def __init__(self, key: bytes) -> None:
            self._inner = _pad_key(key, 0x36)
            self._outer = _pad_key(key, 0x5C)

        def digest(self, *parts: bytes) -> bytes:
            inner = hashlib.sha256(self._inner)
            for part in parts:
                inner.update(part)
            outer = hashlib.sha256(self._outer)
            outer.update(inner.digest())
            return bytes(outer.digest())

    class AesEcb:
        """AES-128 block encryption with a fixed key (ECB: the caller builds CTR blocks)."""

        def __init__(self, key: bytes) -> None:
            self._aes = cryptolib.aes(key, _AES_ECB)

        def encrypt(self, blocks: bytes) -> bytes:
            return bytes(self._aes.encrypt(blocks))

    def xor(data: bytes, keystream: bytes) -> bytes:
        out = bytearray(len(data))
        for i in range(len(data)):
            out[i] = data[i] ^ keystream[i]
        return bytes(out)

    def equal(a: bytes, b: bytes) -> bool:
        """Constant-time comparison: every byte is looked at whatever the first difference."""
        if len(a) != len(b):
            return False
        diff = 0
        for i in range(len(a)):
            diff |= a[i] ^ b[i]
        return diff == 0

else:
    import hmac as _hmac

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    class HmacSha256:  # type: ignore[no-redef]
        """HMAC-SHA256 with a fixed key; the keyed state is computed once and copied."""

        def __init__(self, key: bytes) -> None:
            self._keyed = _hmac.new(key, digestmod=hashlib.sha256)

        def digest(self, *parts: bytes) -> bytes:
            mac = self._keyed.copy()
            for part in parts:
                mac.update(part)
            return mac.digest()

    class AesEcb:  # type: ignore[no-redef]
        """AES-128 block encryption with a fixed key (ECB: the caller builds CTR blocks)."""

        def __init__(self, key: bytes) -> None:
            # One encryptor, reused: ECB keeps no state between blocks, and building a
            # Cipher costs more than encrypting a short body.
            self._encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

        def encrypt(self, blocks: bytes) -> bytes:
            return bytes(self._encryptor.update(blocks))

    def xor(data: bytes, keystream: bytes) -> bytes:
        n = len(data)
        value = int.from_bytes(data, "little") ^ int.from_bytes(keystream[:n], "little")
        return value.to_bytes(n, "little")

    def equal(a: bytes, b: bytes) -> bool:
        """Constant-time comparison (`hmac.compare_digest`)."""
        return _hmac.compare_digest(a, b)


def hmac_sha256(key: bytes, *parts: bytes) -> bytes:
    """One-off HMAC-SHA256 of the concatenated parts."""
    return HmacSha256(key).digest(*parts)
