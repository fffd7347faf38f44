"""A key change against whoever holds a node's current key (issue 31, point 1), on a site as
`perimeter site init` writes it, the real gateway restarted with `[site] key_change = true`:

- the key is agreed by X25519, not handed over: what the gateway sends under the old key
  (a KEYOFFER) carries only its public half, and neither the old site key, nor the old node
  key, nor anything in the recorded exchange gives the new key; a frame forged from any of
  them is refused once the node has moved, and the real node goes on being heard;
- an insider who answers the gateway's offer as the node, ahead of it, is seen: when the
  real node answers too, the gateway raises a `key_exchange_conflict` security alarm and
  does not acknowledge the second answer;
- an insider who offers the node a key change of their own is seen: the node's answer
  names an offer the gateway never made, the gateway raises `key_exchange_unasked` and does
  not acknowledge it, so the node keeps its key.
"""

import tomllib

from gateway.config_dump import dump
from protocol.body import encode_body
from protocol.framing import Deframer, encode_frame
from protocol.key_agreement import public_fields, public_from_fields
from protocol.keys import NodeKey
from protocol.messages import BY_NAME, DOWN, UP
from protocol.packet import open_packet, seal_packet
from tests.gateway.agreeing_node import AgreeingNode
from tests.gateway.harness import SITE_ID, SITE_KEY, SimNode, start, stop, wait_until
from tests.security.secured_site import SecuredSite

KEYOFFER = BY_NAME["KEYOFFER"].type_id


async def _with_key_change(site: SecuredSite) -> None:
    assert site.gateway is not None and site.task is not None
    await stop(site.gateway, site.task)
    doc = tomllib.loads(site.config.read_text())
    doc["site"]["key_change"] = True
    site.config.write_text(dump(doc))
    site.gateway, site.task = await start(site.config)


def _security(site: SecuredSite) -> list[str]:
    assert site.gateway is not None
    return [e.data["kind"] for e in site.gateway.journal.entries() if e.kind == "security"]


def _packets(data: bytes) -> list[bytes]:
    deframer = Deframer()
    deframer.feed(data)
    out = []
    while (packet := deframer.next_packet()) is not None:
        out.append(packet)
    return out


async def _offered(site: SecuredSite, node: AgreeingNode) -> bytes:
    """A heartbeat from the node; the downlinks it got, raw, as anyone listening records them."""
    recorded = bytearray()

    def hear() -> bool:
        data = site.pty.read()
        recorded.extend(data)
        return "KEYOFFER" in node.hear(data)

    site.pty.write(node.heartbeat())
    await wait_until(hear, 10)
    return bytes(recorded)


async def test_the_old_key_and_the_recorded_exchange_give_nothing_of_the_new_key(site: SecuredSite) -> None:
    await _with_key_change(site)
    assert site.gateway is not None
    node = AgreeingNode(3)
    old = node.key  # what the insider holds: the node's key (and the site key it derives from)
    recorded = await _offered(site, node)
    site.pty.write(node.answers[0])
    await wait_until(lambda: bool(node.hear(site.pty.read())) or node.epoch == 1, 10)
    site.pty.write(node.fence())  # the node on its agreed key
    await wait_until(lambda: site.gateway is not None and site.gateway.pipeline.keyring.on_next == {3}, 10)

    # The insider opens what the gateway sent under the old key: an offer, a public half only;
    # and the node's answer: the other public half.
    offers = [open_packet(old, SITE_ID, p, DOWN, None) for p in _packets(recorded)]
    gateway_public = public_from_fields("g", next(o for o in offers if o.type_id == KEYOFFER).fields)
    node_public = public_from_fields("n", open_packet(old, SITE_ID, _packets(node.answers[0])[0], UP, None).fields)
    mixed = bytes(a ^ b for a, b in zip(gateway_public, node_public, strict=True))
    guesses = [old, NodeKey(gateway_public), NodeKey(node_public), NodeKey(mixed), NodeKey.for_node(SITE_KEY, 3, 1)]
    assert all(k.k_mac != node.key.k_mac for k in guesses)
    counters = site.gateway.pipeline.counters["fence"]
    for i, key in enumerate(guesses):  # each as node 3's next heartbeat: refused
        forger = SimNode(3, ctr=node.ctr + 10 + i)
        forger.key = key
        site.pty.write(forger.heartbeat())
    await wait_until(lambda: counters["bad_tag"] == len(guesses), 10)
    before = counters["frames_ok"]
    site.pty.write(node.heartbeat())  # the real node is heard as before
    await wait_until(lambda: counters["frames_ok"] == before + 1, 10)
    rekeys = [e.data for e in site.gateway.journal.entries() if e.kind == "rekey"]
    assert [(r["node_id"], r["node_public"]) for r in rekeys] == [(3, node_public.hex())]


async def test_an_insider_answering_the_offer_ahead_of_the_node_raises_a_security_alarm(site: SecuredSite) -> None:
    await _with_key_change(site)
    assert site.gateway is not None
    node = AgreeingNode(3)
    recorded = await _offered(site, node)
    insider = AgreeingNode(3, ctr=node.ctr + 100)  # the node's key in hand, the offer heard on air
    assert insider.hear(recorded) == ["KEYOFFER"] and insider.answers
    site.pty.write(insider.answers[0])  # first: the gateway cannot tell it from the node's, and acks it
    await wait_until(lambda: "ACK" in insider.hear(site.pty.read()), 10)
    node.ctr = insider.ctr + 1
    site.pty.write(node.answer_again())  # the real node's answer: a second, different one
    await wait_until(lambda: "key_exchange_conflict" in _security(site), 10)
    assert "ACK" not in node.hear(site.pty.read()) and node.epoch == 0  # not acknowledged
    site.gateway.check_supervision()
    assert any(category == "security" for category, _ in site.alarms()), site.alarms()


async def test_an_insider_offering_the_node_a_key_change_of_their_own_is_seen(site: SecuredSite) -> None:
    assert site.gateway is not None  # no key change under way at all
    node = AgreeingNode(3)
    body = encode_body(KEYOFFER, dict(public_fields("g", bytes(range(9, 41))), epoch=1))
    forged = seal_packet(NodeKey.for_node(SITE_KEY, 3), SITE_ID, KEYOFFER, 3, 1, body)
    assert node.hear(encode_frame(forged)) == ["KEYOFFER"]  # it opens under the node's key
    site.pty.write(node.answers[0])
    await wait_until(lambda: "key_exchange_unasked" in _security(site), 10)
    assert "ACK" not in node.hear(site.pty.read()) and node.epoch == 0  # so the node keeps its key
    site.gateway.check_supervision()
    assert any(category == "security" for category, _ in site.alarms()), site.alarms()
    counters = site.gateway.pipeline.counters["fence"]
    before = counters["frames_ok"]
    for _ in range(20):  # the same answer again and again: one row a minute, not one a frame
        site.pty.write(node.answer_again())
    await wait_until(lambda: counters["frames_ok"] == before + 20, 10)
    assert _security(site).count("key_exchange_unasked") == 1
