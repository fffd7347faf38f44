"""What an operator's request must be before the desk reads what it asks: fresh, heard once,
never retained, and made of text a journal can hold and a page can show.

A request over MQTT carries `sent_at` (Unix seconds) and a `nonce` (8-64 letters, digits, '-'
or '_', new for every request). One older than `max_age_s` (or from further in the future),
one whose nonce was already heard, and one the broker delivered as retained are refused: a
request recorded off the network, or left retained on the broker by anyone, is never carried
out again. The nonces heard are kept for twice the age limit, in a table per account: when
one account's table is full its requests wait rather than let an old nonce be forgotten
early, and no other account's requests are touched (before, one viewer's flood filled the
one shared table and shut the desk for everyone for two minutes).

Sans-I/O.
"""

import re
import secrets
import unicodedata
from collections import OrderedDict
from typing import Any

from gateway.alarming.alarms import OperatorError

NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_TEXT = 500  # characters in any one text of a request (a note, a reason)
MAX_NONCES = 2_000  # per account: far above what its request rate (`reach.py`) lets in


def fresh(fields: dict[str, Any], now: float) -> dict[str, Any]:
    """A request as a client sends it: its fields, when it was sent and a new nonce."""
    return dict(fields, sent_at=now, nonce=secrets.token_hex(8))


def check_text(value: Any, path: str = "request") -> None:
    """Refuse text no journal or page should take: too long, control characters, lone
    surrogates (valid JSON, invalid Unicode) in any string of the request."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            check_text(item, "%s.%s" % (path, key))
    elif isinstance(value, list):
        for item in value:
            check_text(item, path)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise OperatorError("%s is longer than %d characters" % (path, MAX_TEXT))
        for ch in value:
            category = unicodedata.category(ch)
            if category == "Cs":
                raise OperatorError("%s holds text that is not valid Unicode" % path)
            if category == "Cc":
                raise OperatorError("%s holds a control character (U+%04X)" % (path, ord(ch)))


class RequestGuard:
    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._heard: dict[str, OrderedDict[str, float]] = {}  # account -> nonce -> when it was heard

    def check(self, request: dict[str, Any], now: float, retained: bool, account: str = "") -> None:
        """Refuse a retained, stale or replayed request; remember a fresh one's nonce (a
        request that then fails is sent again with a new one, as every request is)."""
        if retained:
            raise OperatorError("a retained request is never carried out: publish requests without retain")
        sent_at = request.get("sent_at")
        if not isinstance(sent_at, int | float) or isinstance(sent_at, bool):
            raise OperatorError("every request carries 'sent_at' (Unix seconds) and a 'nonce'")
        if abs(now - sent_at) > self.max_age_s:
            raise OperatorError(
                "the request's sent_at is %.0f s off the gateway's clock (more than %.0f s): a stale request "
                "is never carried out; check the clocks and send it again" % (abs(now - sent_at), self.max_age_s)
            )
        nonce = request.get("nonce")
        if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
            raise OperatorError("'nonce' must be 8-64 letters, digits, '-' or '_', new for every request")
        heard = self._heard.setdefault(account, OrderedDict())
        self._forget(heard, now)
        if nonce in heard:
            raise OperatorError("this request (nonce %s) was already heard: a replay is never carried out" % nonce)
        if len(heard) >= MAX_NONCES:  # never forget one early: that would let it be replayed
            raise OperatorError("too many requests in the last %.0f s: wait a moment" % (2 * self.max_age_s))
        heard[nonce] = now

    def _forget(self, heard: "OrderedDict[str, float]", now: float) -> None:
        while heard:
            nonce, at = next(iter(heard.items()))
            if now - at <= 2 * self.max_age_s:
                break
            del heard[nonce]
