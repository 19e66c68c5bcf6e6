"""AccountRegistry: claims per client, matching requests to accounts."""

from __future__ import annotations

from sipsimple.core import SIPURI
from sipsimple.core.headers import CallIDHeader, CSeqHeader, FromHeader, ToHeader, ViaHeader
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim


def request(ruri: str, to: str, method: str = "MESSAGE", to_tag: str | None = None
            ) -> SIPRequest:
    return SIPRequest(method, SIPURI.parse(ruri), (
        ViaHeader("UDP", "127.0.0.1", 5060, {"branch": "z9hG4bK1"}),
        FromHeader(SIPURI.parse("sip:x@y"), parameters={"tag": "1"}),
        ToHeader(SIPURI.parse(to), parameters={"tag": to_tag} if to_tag else {}),
        CallIDHeader("c"), CSeqHeader(1, method),
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


def test_any_user_claim_takes_new_invites_nobody_else_claims() -> None:
    accounts = AccountRegistry()
    alice = accounts.claim(SIPURI.parse("sip:alice@127.0.0.1"), "c1")
    catch_all = accounts.claim(SIPURI.parse("sip:bob@127.0.0.1"), "c2", any_user=True)
    assert catch_all == Claim("sip:bob@127.0.0.1", "c2", any_user=True)
    assert len(accounts) == 2 and accounts.claims() == [alice, catch_all]
    direct = request("sip:anyone@192.0.2.1", "sip:anyone@192.0.2.1", "INVITE")
    assert accounts.match(direct) == catch_all
    # a claimed account still gets its own calls; other methods and dialogs are no calls
    assert accounts.match(request("sip:alice@127.0.0.1", "sip:alice@127.0.0.1", "INVITE")) \
        == alice
    assert accounts.match(request("sip:anyone@192.0.2.1", "sip:anyone@192.0.2.1")) is None
    assert accounts.match(request("sip:anyone@192.0.2.1", "sip:anyone@192.0.2.1", "INVITE",
                                  to_tag="t")) is None
    # the plain claim of bob is another claim: releasing one leaves the other
    assert accounts.release(SIPURI.parse("sip:bob@127.0.0.1"), "c2") is None
    assert accounts.release_client("c2") == [catch_all]
    assert accounts.match(direct) is None
    accounts.claim(SIPURI.parse("sip:bob@127.0.0.1"), "c2", any_user=True)
    assert accounts.release(SIPURI.parse("sip:bob@127.0.0.1"), "c2", any_user=True) == catch_all
    assert len(accounts) == 1
