"""TransactionLayer: matching (17.1.3, 17.2.3), ACK and CANCEL, stray messages, limits."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from sip_transaction_fixtures import (
    CLIENT_TCP,
    CLIENT_UDP,
    TCP,
    UDP,
    FakeClock,
    ack_for,
    cancel_for,
    kinds,
    request,
    response,
    sent,
    tu,
)

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions import State, TransactionError
from sipsimple_services.signalling.sip.transactions.effects import (
    AckReceived,
    CancelReceived,
    Effect,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    Send,
    StrayAck,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import client_key_for_request, server_key
from sipsimple_services.signalling.sip.transactions.layer import (
    LayerLimits,
    TransactionLayer,
    TransactionLimitReached,
    UnknownTransaction,
)


def counter_bytes() -> object:
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


def layer(**kw: object) -> tuple[TransactionLayer, FakeClock]:
    tl = TransactionLayer(random_bytes=counter_bytes(), **kw)  # type: ignore[arg-type]
    return tl, FakeClock(tl.timer_fired)


def only(effects: list[Effect], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


# -- sending requests ---------------------------------------------------


def test_with_branch_adds_a_cookie_branch_when_missing() -> None:
    tl, _ = layer()
    for number, branch in enumerate([None, "z9hG4bK", "old2543"]):
        req = request(branch=branch)
        fresh = tl.with_branch(req)
        # the injected source makes branches predictable: cookie + 12 bytes in hex
        assert fresh.top_via is not None
        assert fresh.top_via.branch == "z9hG4bK" + number.to_bytes(12, "big").hex()
        assert fresh.headers[1:] == req.headers[1:]
    kept = request()
    assert tl.with_branch(kept) is kept
    assert tl.new_branch() != tl.new_branch()
    with pytest.raises(TransactionError):
        tl.with_branch(SIPRequest("OPTIONS", kept.uri, kept.headers[1:]))


@pytest.mark.parametrize("branch", [None, "z9hG4bK", "a2543branch"])
def test_send_request_requires_an_rfc3261_branch(branch: str | None) -> None:
    tl, _ = layer()
    with pytest.raises(TransactionError):
        tl.send_request(request(branch=branch), UDP, 0.0)
    assert len(tl) == 0


def test_send_request_creates_a_client_transaction() -> None:
    tl, clock = layer()
    req = request()
    effects = clock.apply(tl.send_request(req, UDP, 0.0))
    assert effects[0] == Send(req, UDP)
    key = client_key_for_request(req)
    assert list(tl.client_transactions) == [key] and len(tl) == 1
    assert tl.client_transactions[key].state is State.CALLING
    with pytest.raises(TransactionError):
        tl.send_request(req, UDP, 0.1)  # same branch and method


def test_ack_is_sent_without_a_transaction() -> None:
    tl, _ = layer()
    req = request()
    ack = ack_for(req, response(req, 200), branch="z9hG4bKack2xx")
    assert tl.send_request(ack, UDP, 0.0) == [Send(ack, UDP)]
    assert len(tl) == 0


def test_client_limit() -> None:
    tl, _ = layer(limits=LayerLimits(max_client_transactions=1))
    tl.send_request(request("OPTIONS", branch="z9hG4bK1"), UDP, 0.0)
    with pytest.raises(TransactionLimitReached):
        tl.send_request(request("OPTIONS", branch="z9hG4bK2"), UDP, 0.0)


# -- matching responses (17.1.3) -----------------------------------------


def test_responses_match_by_branch_and_cseq_method() -> None:
    tl, clock = layer()
    invite = request()
    cancel = cancel_for(invite)
    clock.apply(tl.send_request(invite, UDP, 0.0))
    clock.apply(tl.send_request(cancel, UDP, 0.1))
    assert len(tl) == 2  # same branch, two transactions
    ok = response(cancel, 200)
    effects = clock.apply(tl.receive(ok, UDP, 0.2))
    assert tu(effects)[0] == ResponseReceived(client_key_for_request(cancel), ok)
    terminated = response(invite, 487)
    effects = clock.apply(tl.receive(terminated, UDP, 0.3))
    assert tu(effects)[0] == ResponseReceived(client_key_for_request(invite), terminated)
    (ack,) = sent(effects)
    assert isinstance(ack, SIPRequest) and ack.method == "ACK"


def test_stray_responses_are_passed_up() -> None:
    tl, clock = layer()
    invite = request()
    ok = response(invite, 200)
    assert tl.receive(ok, UDP, 0.0) == [StrayResponse(ok, UDP)]
    clock.apply(tl.send_request(invite, UDP, 0.0))
    clock.apply(tl.receive(ok, UDP, 0.1))
    effects = clock.advance(40.0)  # Timer M: the transaction ends and is removed
    assert only(effects, TransactionTerminated) and len(tl) == 0
    # a late 2xx retransmission still reaches the dialog layer, for its ACK
    assert tl.receive(ok, UDP, 41.0) == [StrayResponse(ok, UDP)]


def test_response_that_cannot_be_matched_is_dropped() -> None:
    tl, _ = layer()
    resp = response(request(), 200)
    bare = replace(resp, headers=tuple(x for x in resp.headers if not isinstance(x, h.ViaHeader)))
    (dropped,) = tl.receive(bare, UDP, 0.0)
    assert isinstance(dropped, MessageDropped) and dropped.message is bare


# -- matching requests (17.2.3) ------------------------------------------


def test_new_invite_gets_100_and_goes_up_once() -> None:
    tl, clock = layer()
    invite = request()
    effects = clock.apply(tl.receive(invite, CLIENT_UDP, 0.0))
    assert kinds(effects) == ["Send", "RequestReceived"]
    trying = sent(effects)[0]
    assert isinstance(trying, SIPResponse) and trying.code == 100
    key = server_key(invite)
    assert effects[1] == RequestReceived(key, invite, CLIENT_UDP)
    # the retransmission is absorbed by the transaction: the 100 again, no new event
    assert tl.receive(invite, CLIENT_UDP, 0.5) == [Send(trying, CLIENT_UDP)]
    assert list(tl.server_transactions) == [key]


def test_without_automatic_trying() -> None:
    tl, _ = layer(send_trying=False)
    assert kinds(tl.receive(request(), CLIENT_UDP, 0.0)) == ["RequestReceived"]


def test_non_invite_request_goes_up_and_response_ends_it() -> None:
    tl, clock = layer()
    bye = request("BYE", transport="TCP", to_tag="xyz")
    effects = clock.apply(tl.receive(bye, CLIENT_TCP, 0.0))
    assert effects == [RequestReceived(server_key(bye), bye, CLIENT_TCP)]
    ok = response(bye, 200)
    effects = clock.apply(tl.send_response(server_key(bye), ok, 0.1))
    assert effects == [Send(ok, CLIENT_TCP), TransactionTerminated(server_key(bye), "BYE", ok)]
    assert len(tl) == 0
    with pytest.raises(UnknownTransaction):
        tl.send_response(server_key(bye), ok, 0.2)
    with pytest.raises(KeyError):
        tl.send_response(server_key(bye), ok, 0.2)


def test_same_branch_other_sent_by_or_method_is_another_transaction() -> None:
    tl, _ = layer()
    tl.receive(request(), CLIENT_UDP, 0.0)
    effects = tl.receive(request(via_host="192.0.2.99"), CLIENT_UDP, 0.0)
    assert only(effects, RequestReceived)
    effects = tl.receive(request(via_port=5070), CLIENT_UDP, 0.0)
    assert only(effects, RequestReceived)
    effects = tl.receive(request("OPTIONS"), CLIENT_UDP, 0.0)
    assert only(effects, RequestReceived)
    assert len(tl.server_transactions) == 4


def test_rfc2543_requests_match_without_a_branch() -> None:
    tl, clock = layer()
    invite = request(branch=None)
    clock.apply(tl.receive(invite, CLIENT_UDP, 0.0))
    assert kinds(tl.receive(invite, CLIENT_UDP, 0.1)) == ["Send"]  # retransmission
    other = request(branch=None, cseq=2)
    assert only(tl.receive(other, CLIENT_UDP, 0.2), RequestReceived)
    # the ACK for our non-2xx must carry the To tag of our response
    key = server_key(invite)
    busy = response(invite, 486, to_tag="ours")
    clock.apply(tl.send_response(key, busy, 0.3))
    wrong = ack_for(invite, response(invite, 486, to_tag="theirs"))
    assert tl.receive(wrong, CLIENT_UDP, 0.4) == [StrayAck(wrong, CLIENT_UDP)]
    assert tl.server_transactions[key].state is State.COMPLETED
    right = ack_for(invite, busy)
    assert tu(clock.apply(tl.receive(right, CLIENT_UDP, 0.5))) == []
    assert tl.server_transactions[key].state is State.CONFIRMED


def test_ack_before_any_final_response_is_stray() -> None:
    tl, _ = layer()
    invite = request(branch=None)
    tl.receive(invite, CLIENT_UDP, 0.0)
    ack = ack_for(invite, response(invite, 486))
    assert tl.receive(ack, CLIENT_UDP, 0.1) == [StrayAck(ack, CLIENT_UDP)]


def test_ack_for_non_2xx_is_absorbed_by_the_invite_transaction() -> None:
    tl, clock = layer()
    invite = request()
    key = server_key(invite)
    clock.apply(tl.receive(invite, CLIENT_UDP, 0.0))
    busy = response(invite, 486)
    clock.apply(tl.send_response(key, busy, 0.1))
    effects = clock.apply(tl.receive(ack_for(invite, busy), CLIENT_UDP, 0.2))
    assert tu(effects) == []
    assert tl.server_transactions[key].state is State.CONFIRMED
    effects = clock.advance(5.0)  # Timer I
    assert only(effects, TransactionTerminated) and len(tl) == 0


def test_ack_for_2xx_goes_to_the_dialog() -> None:
    tl, clock = layer()
    invite = request()
    key = server_key(invite)
    clock.apply(tl.receive(invite, CLIENT_UDP, 0.0))
    ok = response(invite, 200)
    clock.apply(tl.send_response(key, ok, 0.1))
    # RFC 3261 ACK for a 2xx: a new branch, so no transaction matches
    ack = ack_for(invite, ok, branch="z9hG4bKnewack")
    assert tl.receive(ack, CLIENT_UDP, 0.2) == [StrayAck(ack, CLIENT_UDP)]
    # an ACK reusing the INVITE's branch matches the Accepted transaction
    same = ack_for(invite, ok)
    assert tl.receive(same, CLIENT_UDP, 0.3) == [AckReceived(key, same)]
    assert tl.server_transactions[key].state is State.ACCEPTED


def test_cancel_is_matched_to_its_invite() -> None:
    tl, clock = layer()
    invite = request()
    invite_key = server_key(invite)
    clock.apply(tl.receive(invite, CLIENT_UDP, 0.0))
    cancel = cancel_for(invite)
    effects = clock.apply(tl.receive(cancel, CLIENT_UDP, 0.5))
    cancel_key = server_key(cancel)
    assert effects == [CancelReceived(cancel_key, cancel, invite_key, CLIENT_UDP)]
    assert cancel_key != invite_key
    # the TU answers both
    ok = response(cancel, 200)
    assert sent(clock.apply(tl.send_response(cancel_key, ok, 0.6))) == [ok]
    terminated = response(invite, 487)
    assert sent(clock.apply(tl.send_response(invite_key, terminated, 0.6))) == [terminated]
    # a retransmitted CANCEL gets its 200 again, from its own transaction
    assert tl.receive(cancel, CLIENT_UDP, 0.7) == [Send(ok, CLIENT_UDP)]


def test_cancel_without_invite_gets_481_from_the_layer() -> None:
    tl, clock = layer()
    cancel = cancel_for(request())
    effects = clock.apply(tl.receive(cancel, CLIENT_UDP, 0.0))
    (answer,) = sent(effects)
    assert isinstance(answer, SIPResponse) and answer.code == 481
    assert answer.to is not None and answer.to.tag is not None
    assert tu(effects) == []
    assert tl.receive(cancel, CLIENT_UDP, 0.5) == [Send(answer, CLIENT_UDP)]
    # a CANCEL for a non-INVITE matches nothing either
    options = request("OPTIONS", branch="z9hG4bKopt")
    tl.receive(options, CLIENT_UDP, 0.0)
    (answer,) = sent(tl.receive(cancel_for(options), CLIENT_UDP, 0.6))
    assert isinstance(answer, SIPResponse) and answer.code == 481


def test_request_without_via_is_dropped() -> None:
    tl, _ = layer()
    req = request("OPTIONS")
    bare = SIPRequest("OPTIONS", req.uri, req.headers[1:])
    (dropped,) = tl.receive(bare, CLIENT_UDP, 0.0)
    assert isinstance(dropped, MessageDropped)


# -- where responses go ---------------------------------------------------


@pytest.mark.parametrize(
    ("via_port", "rport", "source", "expected"),
    [
        (5062, False, Destination("198.51.100.7", 40000), Destination("198.51.100.7", 5062)),
        (None, False, Destination("198.51.100.7", 40000), Destination("198.51.100.7", 5060)),
        (5062, True, Destination("198.51.100.7", 40000), Destination("198.51.100.7", 40000)),
        (5062, False, Destination("198.51.100.7", 40000, "TCP"),
         Destination("198.51.100.7", 40000, "TCP")),
    ],
)
def test_responses_follow_18_2_2(
    via_port: int | None, rport: bool, source: Destination, expected: Destination
) -> None:
    tl, _ = layer()
    req = request("OPTIONS", via_port=via_port, transport=source.transport)
    if rport:
        via = req.via[0].with_parameters(rport=True)
        req = replace(req, headers=(via, *req.headers[1:]))
    tl.receive(req, source, 0.0)
    ok = response(req, 200)
    assert tl.send_response(server_key(req), ok, 0.1)[0] == Send(ok, expected)


def test_response_route_can_be_injected() -> None:
    elsewhere = Destination("203.0.113.5", 5999)
    tl, _ = layer(response_route=lambda request, source: elsewhere)
    effects = tl.receive(request(), CLIENT_UDP, 0.0)
    assert effects[0] == Send(sent(effects)[0], elsewhere)


# -- timers, failures, cleanup --------------------------------------------


def test_timers_through_the_layer_end_in_408_and_cleanup() -> None:
    tl, clock = layer()
    clock.apply(tl.send_request(request("OPTIONS"), UDP, 0.0))
    effects = clock.advance(32.0)
    assert len(sent(effects)) == 10
    assert [e.response.code for e in only(effects, TransactionTimedOut)] == [408]
    assert len(tl) == 0 and clock.timers == {}
    assert tl.timer_fired(("z9hG4bK776asdhds", "OPTIONS"), "E", 33.0) == []


def test_transport_error_by_key_and_by_destination() -> None:
    tl, clock = layer()
    a = request("OPTIONS", branch="z9hG4bKa", transport="TCP")
    b = request("MESSAGE", branch="z9hG4bKb", transport="TCP")
    c = request("OPTIONS", branch="z9hG4bKc")
    clock.apply(tl.send_request(a, TCP, 0.0))
    clock.apply(tl.send_request(b, TCP, 0.0))
    clock.apply(tl.send_request(c, UDP, 0.0))
    effects = clock.apply(tl.destination_failed(TCP, 0.1))
    failed = only(effects, TransportFailed)
    assert sorted(f.key for f in failed) == [("z9hG4bKa", "OPTIONS"), ("z9hG4bKb", "MESSAGE")]
    assert all(f.response.code == 503 for f in failed)
    assert list(tl.client_transactions) == [("z9hG4bKc", "OPTIONS")]
    effects = clock.apply(tl.transport_error(("z9hG4bKc", "OPTIONS"), 0.2))
    assert only(effects, TransportFailed) and len(tl) == 0
    assert tl.transport_error(("z9hG4bKc", "OPTIONS"), 0.3) == []


# -- overload ---------------------------------------------------------------


def test_overload_gets_stateless_503_with_retry_after() -> None:
    tl, clock = layer(limits=LayerLimits(max_server_transactions=2, retry_after=7))
    first, second = request(branch="z9hG4bK1"), request(branch="z9hG4bK2")
    clock.apply(tl.receive(first, CLIENT_UDP, 0.0))
    clock.apply(tl.receive(second, CLIENT_UDP, 0.0))
    flood = request(branch="z9hG4bK3")
    effects = tl.receive(flood, CLIENT_UDP, 0.1)
    (refusal,) = sent(effects)
    assert kinds(effects) == ["Send"]
    assert isinstance(refusal, SIPResponse) and refusal.code == 503
    assert str(refusal.header("Retry-After")) == "7"
    assert refusal.to is not None and refusal.to.tag is not None
    assert len(tl.server_transactions) == 2
    # existing transactions carry on: a retransmission, a CANCEL of one of them
    assert kinds(tl.receive(first, CLIENT_UDP, 0.2)) == ["Send"]
    assert only(tl.receive(cancel_for(first), CLIENT_UDP, 0.3), CancelReceived)
    # a CANCEL matching nothing gets a stateless 481
    stray_cancel = cancel_for(flood)
    (answer,) = sent(tl.receive(stray_cancel, CLIENT_UDP, 0.3))
    assert isinstance(answer, SIPResponse) and answer.code == 481
    assert len(tl.server_transactions) == 3
    # once transactions end, new requests are served again
    clock.apply(tl.send_response(server_key(second), response(second, 486), 0.4))
    clock.apply(tl.receive(ack_for(second, response(second, 486)), CLIENT_UDP, 0.5))
    clock.advance(10.0)
    assert server_key(second) not in tl.server_transactions
    cancel = cancel_for(first)
    clock.apply(tl.send_response(server_key(cancel), response(cancel, 200), 11.0))
    clock.advance(40.0)
    assert len(tl.server_transactions) == 1
    assert only(tl.receive(flood, CLIENT_UDP, 60.0), RequestReceived)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        LayerLimits(max_server_transactions=-1)
