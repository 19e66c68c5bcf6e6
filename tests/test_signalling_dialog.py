"""Dialog state (RFC 3261 12): creation, routing (12.2.1.1), CSeq rules, target refresh."""

from __future__ import annotations

import pytest
from sip_transaction_fixtures import request, response

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.dialogs.dialog import (
    Dialog,
    DialogError,
    DialogState,
    route_request,
)
from sipsimple_services.signalling.sip.message.values import make_response

VIA = h.ViaHeader("UDP", "192.0.2.1", 5060, {"branch": "z9hG4bKx"})
TARGET = SIPURI("192.0.2.9", user="bob")


def with_contact(resp, *rr: str):  # type: ignore[no-untyped-def]
    extra = (*(h.RecordRouteHeader.parse(r) for r in rr), h.ContactHeader(TARGET))
    return make_response(request(), resp, to_tag="totag", headers=extra)


def test_uac_dialog_from_2xx_and_early_from_1xx() -> None:
    invite = request()
    confirmed = Dialog.uac(invite, with_contact(200, "<sip:p2;lr>", "<sip:p1;lr>"))
    assert confirmed.state is DialogState.CONFIRMED
    assert confirmed.id.local_tag == "1928301774" and confirmed.id.remote_tag == "totag"
    assert [str(r.uri) for r in confirmed.route_set] == ["sip:p1;lr", "sip:p2;lr"]
    assert confirmed.remote_target == TARGET and confirmed.local_cseq == 1
    early = Dialog.uac(invite, with_contact(180))
    assert early.state is DialogState.EARLY
    early.confirm(with_contact(200, "<sip:p3;lr>"))
    assert early.state is DialogState.CONFIRMED
    assert [str(r.uri) for r in early.route_set] == ["sip:p3;lr"]  # recomputed (13.2.2.4)
    with pytest.raises(DialogError):
        Dialog.uac(invite, response(invite, 200))  # a 2xx without Contact
    with pytest.raises(DialogError):
        Dialog.uac(invite, response(invite, 180, to_tag=None))


def test_uas_dialog_and_cseq_rules() -> None:
    invite = request(cseq=5, routes=())
    contact = h.ContactHeader(SIPURI("192.0.2.2", user="bob"))
    dialog = Dialog.uas(invite, "mytag", contact, 100)
    assert dialog.id.remote_tag == "1928301774" and dialog.remote_cseq == 5
    assert dialog.local.tag == "mytag" and dialog.remote.tag == "1928301774"
    assert not dialog.check_remote_cseq(request("BYE", cseq=4))  # lower: 500
    assert dialog.check_remote_cseq(request("ACK", cseq=5))
    assert dialog.check_remote_cseq(request("BYE", cseq=6)) and dialog.remote_cseq == 6
    bye, hop = dialog.build_request("BYE", VIA)
    assert bye.cseq == h.CSeqHeader(101, "BYE") and hop == invite.contact[0].uri
    assert bye.from_.tag == "mytag" and bye.to.tag == "1928301774"  # type: ignore[union-attr]
    ack, _ = dialog.build_ack(101, VIA)
    assert ack.cseq == h.CSeqHeader(101, "ACK") and dialog.local_cseq == 101
    with pytest.raises(DialogError):
        dialog.build_request("INFO", VIA, (h.CallIDHeader("x"),))


def test_target_refresh_and_contact_in_refresh_requests() -> None:
    dialog = Dialog.uac(request(), with_contact(200))
    new = SIPURI("198.51.100.7", user="bob")
    dialog.refresh_target(make_response(request(), 200, to_tag="totag",
                                        headers=(h.ContactHeader(new),)))
    assert dialog.remote_target == new
    reinvite, _ = dialog.build_request("INVITE", VIA)
    assert reinvite.contact and reinvite.uri == new
    info, _ = dialog.build_request("INFO", VIA)
    assert not info.contact


def test_our_target_refresh_is_the_contact_of_our_later_refresh_requests() -> None:
    dialog = Dialog.uac(request(), with_contact(200))
    old = dialog.local_contact
    moved = h.ContactHeader(SIPURI("203.0.113.5", user="alice", port=5062), parameters={
        "isfocus": None})
    dialog.refresh_local_target(moved)
    for method in ("INVITE", "UPDATE", "NOTIFY"):
        sent, _ = dialog.build_request(method, VIA)
        assert list(sent.contact) == [moved] and old not in sent.contact
    info, hop = dialog.build_request("INFO", VIA)
    assert not info.contact and hop == TARGET  # the peer's target is not ours to change


def test_route_request_loose_strict_and_empty() -> None:
    assert route_request(TARGET, ()).uri == TARGET
    loose = route_request(TARGET, (h.RouteHeader.parse("<sip:p1;lr>"),))
    assert loose.uri == TARGET and str(loose.next_hop) == "sip:p1;lr"
    strict = route_request(TARGET, (h.RouteHeader.parse("<sip:p1?X=1>"),
                                    h.RouteHeader.parse("<sip:p2;lr>")))
    assert str(strict.uri) == "sip:p1"  # URI headers stripped in a Request-URI
    assert [str(r.uri) for r in strict.routes] == ["sip:p2;lr", "sip:bob@192.0.2.9"]
