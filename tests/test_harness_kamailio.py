"""Smoke tests of the Kamailio fixture itself (tests/harness/kamailio.py)."""

from __future__ import annotations

import socket

import pytest
from harness.kamailio import Kamailio, parse_ul_dump
from harness.pjsua import PjsuaPeer, needs_pjsua2

pytestmark = pytest.mark.integration


def test_answers_options_over_udp_and_accepts_tcp(kamailio: Kamailio) -> None:
    assert kamailio.options_ping()
    with socket.create_connection(kamailio.address("tcp"), timeout=2):
        pass
    assert kamailio.process is not None and kamailio.process.poll() is None
    assert kamailio.log_path.exists()


def test_parse_ul_dump() -> None:
    text = """{
\tDomains: {
\t\tDomain: {
\t\t\tDomain: location
\t\t\tAoRs: {
\t\t\t\tInfo: {
\t\t\t\t\tAoR: alice
\t\t\t\t\tContacts: {
\t\t\t\t\t\tContact: {
\t\t\t\t\t\t\tAddress: sip:alice@127.0.0.1:5070
\t\t\t\t\t\t\tExpires: 299
\t\t\t\t\t\t}
\t\t\t\t\t\tContact: {
\t\t\t\t\t\t\tAddress: sip:alice@127.0.0.1:5072;transport=TCP
\t\t\t\t\t\t\tExpires: 120
\t\t\t\t\t\t}
\t\t\t\t\t}
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""
    regs = parse_ul_dump(text)
    assert [(r.aor, r.contact, r.expires) for r in regs] == [
        ("alice", "sip:alice@127.0.0.1:5070", 299),
        ("alice", "sip:alice@127.0.0.1:5072;transport=TCP", 120),
    ]


@needs_pjsua2
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_digest(kamailio: Kamailio, pjsua_factory, transport: str) -> None:  # type: ignore[no-untyped-def]
    peer: PjsuaPeer = pjsua_factory(f"alice{transport}")
    user = f"reg{transport}"
    kamailio.add_user(user, "pw-" + transport)
    account, event = peer.register(kamailio.proxy_uri(transport), user, "pw-" + transport,
                                   domain=kamailio.domain)
    assert event is not None and event["code"] == 200, (event, kamailio.log())
    contacts = kamailio.wait_registered(user)
    assert len(contacts) == 1 and "127.0.0.1" in contacts[0]
    assert ("transport=tcp" in contacts[0].lower()) == (transport == "tcp")
    peer.unregister(account)
    peer.wait_event("reg_state", account=account, code=200, active=False)
    assert kamailio.contacts(user) == []


@needs_pjsua2
def test_wrong_password_rejected(kamailio: Kamailio, pjsua: PjsuaPeer) -> None:
    _, event = pjsua.register(kamailio.proxy_uri("udp"), "carol", "not-the-password",
                              domain=kamailio.domain)
    assert event is not None and event["code"] in (401, 403), event
    assert not event["active"]
    assert kamailio.contacts("carol") == []


@needs_pjsua2
def test_unknown_user_rejected(kamailio: Kamailio, pjsua: PjsuaPeer) -> None:
    _, event = pjsua.register(kamailio.proxy_uri("udp"), "mallory", "whatever",
                              domain=kamailio.domain)
    assert event is not None and event["code"] in (401, 403), event
