"""X25519 for the node (RFC 7748): the RFC's own vectors, the key exchange of its section 6.1,
and a refusal of the all-zero secret a low-order point gives. The same file runs on CPython
and on MicroPython; on CPython each result is also held against `cryptography`'s X25519, the
gateway's."""

from protocol.x25519 import BASE, public_key, shared_secret, x25519


def h(text):
    return bytes.fromhex(text)


def test_rfc7748_section_5_2_vectors():
    assert x25519(
        h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    ) == h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert x25519(
        h("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        h("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
    ) == h("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")


def test_rfc7748_iterated_once_and_a_thousand_times():
    k = u = BASE
    k, u = x25519(k, u), k
    assert k == h("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
    for _ in range(999):
        k, u = x25519(k, u), k
    assert k == h("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")


def test_rfc7748_section_6_1_key_exchange():
    alice = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public, bob_public = public_key(alice), public_key(bob)
    assert alice_public == h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert bob_public == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert shared_secret(alice, bob_public) == shared_secret(bob, alice_public) == shared


def test_a_low_order_point_gives_no_secret():
    try:
        shared_secret(h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), bytes(32))
    except ValueError as exc:
        assert "low-order" in str(exc)
    else:
        raise AssertionError("an all-zero shared secret was accepted")


def test_the_gateways_x25519_agrees():
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    except ImportError:
        return  # MicroPython: the node's side only; CPython checks both
    for seed in range(8):
        secret = bytes((seed * 37 + i * 11) & 0xFF for i in range(32))
        ours = X25519PrivateKey.from_private_bytes(secret)
        raw = ours.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert public_key(secret) == raw
        other = X25519PrivateKey.from_private_bytes(bytes(reversed(secret)))
        other_public = other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert shared_secret(secret, other_public) == ours.exchange(X25519PublicKey.from_public_bytes(other_public))
