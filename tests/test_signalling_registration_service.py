"""Registrations and a call through Kamailio, over the signalling service's bus API.

A real service process (spawn_service) and a real Kamailio (registrar and
proxy with digest auth) on loopback. The test is the bus client: it
registers accounts of the domain sip.test (401 answered with the
credentials), unregisters, sees a wrong password refused with 403, and makes
a call from alice to bob through the proxy (alice's INVITE gets 407 and is
sent again with credentials; Kamailio forwards it to bob's registered
contact, which is the same service).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder

from sipsimple.bus.client import get_bus
from sipsimple.notification import Notification

pytestmark = pytest.mark.integration

SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
ANSWER = SDP.replace(b"40000", b"41000")


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    spawn_service("sipsimple_services.signalling", "signalling", SIPSIMPLE_CLIENT_TIMEOUT="2")
    result: dict[str, Any] = get_bus().call("signalling", "get_transports")
    return result


@pytest.fixture
def events() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def route(kamailio: Kamailio, transport: str = "udp") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": kamailio.port(transport), "transport": transport}


def register(kamailio: Kamailio, user: str, transport: str = "udp",
             password: str | None = None) -> str:
    reply = get_bus().call(
        "signalling", "register", aor=kamailio.aor(user), registrar=route(kamailio, transport),
        expires=300, credentials={"username": user,
                                  "password": password or kamailio.password(user)})
    rid: str = reply["registration_id"]
    return rid


def of(events: Recorder, name: str, key: str, value: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == f"signalling.{name}" and getattr(n.data, key) == value


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_and_unregister(kamailio: Kamailio, ports: dict[str, Any], events: Recorder,
                                 transport: str) -> None:
    rid = register(kamailio, "alice", transport)
    done = events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert done.data.expires > 0
    contacts = kamailio.wait_registered("alice")
    assert len(contacts) == 1, kamailio.log()
    assert f"127.0.0.1:{ports[transport]}" in contacts[0]
    assert ("transport=tcp" in contacts[0].lower()) == (transport == "tcp")
    assert any(f":{ports[transport]}" in c for c in done.data.contacts)

    get_bus().call("signalling", "unregister", registration_id=rid)
    ended = events.wait(of(events, "registration_ended", "registration_id", rid))
    assert ended.data.code == 200
    assert kamailio.contacts("alice") == []


def test_wrong_password_fails_with_403(kamailio: Kamailio, ports: dict[str, Any],
                                       events: Recorder) -> None:
    rid = register(kamailio, "carol", password="not-the-secret")
    failed = events.wait(of(events, "registration_failed", "registration_id", rid))
    assert failed.data.code == 403, failed.data.__dict__
    assert failed.data.retry_after is not None  # it keeps trying, backing off
    assert kamailio.contacts("carol") == []
    get_bus().call("signalling", "unregister", registration_id=rid)


def test_call_between_two_accounts_through_kamailio(
        kamailio: Kamailio, ports: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    for user in ("alice", "bob"):
        bus.call("signalling", "claim_account", aor=kamailio.aor(user))
    registrations = [register(kamailio, user) for user in ("alice", "bob")]
    for rid in registrations:
        events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert kamailio.wait_registered("bob"), kamailio.log()

    reply = bus.call("signalling", "invite", from_uri=kamailio.aor("alice"),
                     to_uri=kamailio.aor("bob"), body=SDP, route=route(kamailio),
                     credentials={"username": "alice", "password": kamailio.password("alice")})
    caller = reply["session_id"]
    incoming = events.wait("signalling.session_incoming")
    callee = incoming.data.session_id
    assert callee != caller
    assert incoming.data.body == SDP
    assert "bob@sip.test" in incoming.data.to
    bus.call("signalling", "accept", session_id=callee, body=ANSWER)

    for sid in (caller, callee):
        established = events.wait(of(events, "session_established", "session_id", sid))
        assert established.data.remote_body == (ANSWER if sid == caller else SDP)
    # the first INVITE was challenged by the proxy and answered with credentials
    assert any(n.name == "signalling.session_transaction" and n.data.session_id == caller
               and n.data.method == "INVITE" and n.data.code == 407
               for n in list(events.seen)), [n.data.__dict__ for n in events.seen]

    bus.call("signalling", "end", session_id=caller)
    ended = events.wait(of(events, "session_ended", "session_id", callee))
    assert ended.data.originator == "remote"
    events.wait(of(events, "session_ended", "session_id", caller))
    for rid in registrations:
        bus.call("signalling", "unregister", registration_id=rid)
        events.wait(of(events, "registration_ended", "registration_id", rid))
