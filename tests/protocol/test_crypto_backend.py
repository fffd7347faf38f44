"""On CPython the tag is compared with `hmac.compare_digest` and AES comes from `cryptography`."""

import hmac

import pytest

from protocol import crypto
from protocol.keys import NodeKey
from protocol.messages import UP
from protocol.packet import encode_packet, open_packet

CLIMB = {"event_no": 1, "age_ds": 0, "class": 1, "peak": 900, "noise_floor": 40, "pulses": 9, "duration_ds": 30}


def test_tag_check_goes_through_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(crypto._hmac, "compare_digest", spy)
    key = NodeKey.for_node(bytes(32), 9)
    packet = encode_packet(key, 1, 3, 9, 5, CLIMB)
    open_packet(key, 1, packet, UP)
    assert calls == [(packet[-6:], packet[-6:])]


def test_aes_goes_through_the_cryptography_package(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    real = crypto.Cipher

    def spy(*args: object, **kwargs: object) -> object:
        made.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crypto, "Cipher", spy)
    key = NodeKey.for_node(bytes(32), 9)
    assert len(made) == 1 and made[0].name == "AES" and made[0].key == key.k_enc
