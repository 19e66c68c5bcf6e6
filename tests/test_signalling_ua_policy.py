"""ua_policy.decide: what the UA core does with each kind of new request."""

from __future__ import annotations

import pytest

from sipsimple.core import SIPURI, parse_uri
from sipsimple.core.headers import (
    AllowHeader,
    CallIDHeader,
    CSeqHeader,
    FromHeader,
    Header,
    RequireHeader,
    SupportedHeader,
    ToHeader,
    UnsupportedHeader,
    ViaHeader,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim
from sipsimple_services.signalling.sip.ua.policy import (
    ALLOWED,
    Answer,
    Deliver,
    ToDialogLayer,
    capability_headers,
    decide,
)

ALICE = "sip:alice@example.com"


def request(method: str, *, uri: str = ALICE, to_tag: str | None = None,
            extra: tuple[Header, ...] = ()) -> SIPRequest:
    to = ToHeader(SIPURI.parse(ALICE))
    return SIPRequest(method, parse_uri(uri), (
        ViaHeader("UDP", "127.0.0.1", 5060, {"branch": "z9hG4bK1"}),
        FromHeader(SIPURI.parse("sip:x@y"), parameters={"tag": "1"}),
        to.with_tag(to_tag) if to_tag else to, CallIDHeader("c"), CSeqHeader(1, method),
        *extra,
    ))


@pytest.fixture
def nobody() -> AccountRegistry:
    return AccountRegistry()


@pytest.fixture
def other() -> AccountRegistry:
    accounts = AccountRegistry()
    accounts.claim(SIPURI.parse("sip:bob@example.com"), "c1")
    return accounts


@pytest.fixture
def alice() -> AccountRegistry:
    accounts = AccountRegistry()
    accounts.claim(SIPURI.parse(ALICE), "c1")
    return accounts


def test_options(nobody: AccountRegistry) -> None:
    decision = decide(request("OPTIONS"), nobody)
    assert decision == Answer(200, capability_headers())
    names = [h.name for h in capability_headers()]
    assert names == ["Allow", "Accept", "Supported"]
    nobody.claim(SIPURI.parse(ALICE), "c1", options=True)
    assert decide(request("OPTIONS"), nobody) == Deliver(Claim(ALICE, "c1", True), None)


def test_message(nobody: AccountRegistry, other: AccountRegistry, alice: AccountRegistry) -> None:
    # nobody holds alice: 480, whether other accounts are held or not
    assert decide(request("MESSAGE"), nobody) == Answer(480)
    assert decide(request("MESSAGE"), other) == Answer(480)
    # the client holding alice answers itself: no 200 before an application took it
    assert decide(request("MESSAGE"), alice) == Deliver(Claim(ALICE, "c1"), None)


@pytest.mark.parametrize("method", ["INVITE", "SUBSCRIBE", "REFER"])
def test_dialog_creating(method: str, nobody: AccountRegistry, alice: AccountRegistry) -> None:
    assert decide(request(method), nobody) == Answer(480)
    assert decide(request(method), alice) == ToDialogLayer(Claim(ALICE, "c1"), Answer(480))


@pytest.mark.parametrize("method", ["BYE", "INFO", "NOTIFY", "INVITE", "MESSAGE", "OPTIONS"])
def test_in_dialog(method: str, nobody: AccountRegistry, alice: AccountRegistry) -> None:
    assert decide(request(method, to_tag="t"), nobody) == ToDialogLayer(None, Answer(481))
    decision = decide(request(method, to_tag="t"), alice)
    assert decision == ToDialogLayer(Claim(ALICE, "c1"), Answer(481))


@pytest.mark.parametrize(("method", "code"), [
    ("BYE", 481), ("INFO", 481), ("PRACK", 481), ("UPDATE", 481), ("NOTIFY", 481),
    ("REGISTER", 405), ("PUBLISH", 405), ("FROBNICATE", 501),
])
def test_others(method: str, code: int, alice: AccountRegistry) -> None:
    decision = decide(request(method), alice)
    assert isinstance(decision, Answer) and decision.code == code
    if code in (405, 501):
        assert decision.headers == (AllowHeader(ALLOWED),)


def test_scheme_and_require(alice: AccountRegistry) -> None:
    assert decide(request("MESSAGE", uri="tel:+15551234"), alice) == Answer(416)
    decision = decide(request("OPTIONS", extra=(RequireHeader(("Replaces", "100rel", "x")),)),
                      alice)
    assert decision == Answer(420, (UnsupportedHeader(("100rel", "x")),))
    assert SupportedHeader(("replaces",)) in capability_headers()
