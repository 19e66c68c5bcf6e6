"""AccountRegistry: claims per client, matching requests to accounts."""

from __future__ import annotations

from sipsimple.core import SIPURI
from sipsimple.core.headers import CallIDHeader, CSeqHeader, FromHeader, ToHeader, ViaHeader
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim


def request(ruri: str, to: str) -> SIPRequest:
    return SIPRequest("MESSAGE", SIPURI.parse(ruri), (
        ViaHeader("UDP", "127.0.0.1", 5060, {"branch": "z9hG4bK1"}),
        FromHeader(SIPURI.parse("sip:x@y"), parameters={"tag": "1"}),
        ToHeader(SIPURI.parse(to)), CallIDHeader("c"), CSeqHeader(1, "MESSAGE"),
    ))


def test_claim_match_release() -> None:
    accounts = AccountRegistry()
    claim = accounts.claim(SIPURI.parse("sip:alice@Example.COM:5070;transport=tcp"), "c1")
    assert claim == Claim("sip:alice@example.com", "c1")
    assert len(accounts) == 1
    # To names the AOR (host case and port do not matter) ...
    assert accounts.match(request("sip:alice@192.0.2.1:5060", "sip:alice@example.com")) == claim
    # ... or else the Request-URI does
    assert accounts.match(request("sip:alice@example.com", "sip:other@example.org")) == claim
    assert accounts.match(request("sip:bob@example.com", "sip:bob@example.com")) is None
    assert accounts.match(request("sip:Alice@example.com", "sip:Alice@example.com")) is None
    assert accounts.release(SIPURI.parse("sip:alice@example.com"), "c2") is None
    assert accounts.release(SIPURI.parse("sip:alice@example.com"), "c1") == claim
    assert len(accounts) == 0


def test_latest_claim_wins_and_clients_go() -> None:
    accounts = AccountRegistry()
    aor = SIPURI.parse("sip:alice@example.com")
    accounts.claim(aor, "c1")
    accounts.claim(aor, "c2", options=True)
    accounts.claim(SIPURI.parse("sip:bob@example.com"), "c1")
    assert accounts.owner(aor) == Claim("sip:alice@example.com", "c2", True)
    accounts.claim(aor, "c1")  # claiming again makes c1 the latest
    assert accounts.owner(aor) == Claim("sip:alice@example.com", "c1")
    released = accounts.release_client("c1")
    assert sorted(c.aor for c in released) == ["sip:alice@example.com", "sip:bob@example.com"]
    assert accounts.owner(aor) == Claim("sip:alice@example.com", "c2", True)
    assert accounts.owner(SIPURI.parse("sip:bob@example.com")) is None
    assert accounts.claim(SIPURI.parse("sips:example.com"), "c3").aor == "sips:example.com"
