"""sipsimple.messages.outgoing: what a Message is built from (sending: test_messages_incoming)."""

from __future__ import annotations

import pytest

from sipsimple.account import Credentials
from sipsimple.core import SIPURI, FromHeader, Message, Route, RouteHeader, TelURI, ToHeader

ALICE = FromHeader(SIPURI(user="alice", host="example.com"), "Alice")
BOB = ToHeader(SIPURI(user="bob", host="example.org"))


def test_routes_in_every_form() -> None:
    route = Route("192.0.2.1", 5070, "tcp")
    assert Message(ALICE, BOB, route, "text/plain", "x").routes == [route]
    both = [route, Route("192.0.2.2", 5060)]
    assert Message(ALICE, BOB, both, "text/plain", "x").routes == both
    header = RouteHeader(SIPURI(host="192.0.2.3", port=5080, parameters={"transport": "TCP"}))
    assert Message(ALICE, BOB, header, "text/plain", "x").routes == [
        Route("192.0.2.3", 5080, "tcp")]
    secure = RouteHeader(SIPURI(host="192.0.2.4", secure=True))
    assert Message(ALICE, BOB, secure, "text/plain", "x").routes == [
        Route("192.0.2.4", 5061, "tls")]
    # a host name is looked up when sent (RFC 3263): no routes yet
    named = RouteHeader(SIPURI(host="proxy.example.net"))
    assert Message(ALICE, BOB, named, "text/plain", "x").routes == []
    for bad in ([], "192.0.2.1", None):
        with pytest.raises(TypeError):
            Message(ALICE, BOB, bad, "text/plain", "x")  # type: ignore[arg-type]


def test_arguments_are_checked() -> None:
    route = Route("192.0.2.1", 5060)
    with pytest.raises(ValueError):
        Message(ALICE, BOB, route, "not a type", "x")
    with pytest.raises(ValueError):  # IMDN requests are CPIM headers
        Message(ALICE, BOB, route, "text/plain", "x", dispositions=["display"])
    with pytest.raises(ValueError):
        Message(ALICE, ToHeader(TelURI.parse("tel:+15551234")), route, "text/plain", "x")
    with pytest.raises(TypeError):
        Message(ALICE, BOB, route, "text/plain", "x", credentials="secret")
    message = Message(ALICE, BOB, route, "text/plain", "héllo",
                      credentials=Credentials("alice", "pw"), use_cpim=True)
    assert message.body == "héllo".encode() and message.message_id
    assert not message.is_sent and not message.in_progress
    with pytest.raises(ValueError):
        message.send(timeout=0)
