"""SIPRequest/SIPResponse accessors and serialization, make_response, transaction keys."""

from __future__ import annotations

import pytest

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions.keys import (
    cancel_target_key,
    client_key,
    client_key_for_request,
    server_key,
)


def invite(
    branch: str = "z9hG4bK74bf9", method: str = "INVITE", to_tag: str | None = None
) -> SIPRequest:
    to = h.ToHeader(SIPURI("biloxi.example.com", user="bob"), "Bob")
    return SIPRequest(
        method,
        SIPURI("biloxi.example.com", user="bob"),
        (
            h.ViaHeader("UDP", "pc33.atlanta.example.com", 5060, {"branch": branch}),
            h.ViaHeader("TCP", "proxy.example.com", None, {"branch": "z9hG4bKp"}),
            h.MaxForwardsHeader(70),
            h.FromHeader(
                SIPURI("atlanta.example.com", user="alice"), "Alice", {"tag": "9fxced76sl"}
            ),
            to.with_tag(to_tag) if to_tag else to,
            h.CallIDHeader("3848276298220188511@atlanta.example.com"),
            h.CSeqHeader(1, method),
            h.GenericHeader("Timestamp", "54"),
            h.ContactHeader(SIPURI("pc33.atlanta.example.com", user="alice")),
            h.ContentTypeHeader("application", "sdp"),
        ),
        b"v=0\r\n",
    )


def test_accessors() -> None:
    request = invite()
    assert [via.host for via in request.via] == ["pc33.atlanta.example.com", "proxy.example.com"]
    assert request.top_via is request.via[0]
    assert request.cseq == h.CSeqHeader(1, "INVITE")
    assert request.call_id == "3848276298220188511@atlanta.example.com"
    assert request.from_ is not None and request.from_.tag == "9fxced76sl"
    assert request.to is not None and request.to.tag is None
    assert request.max_forwards == 70
    assert len(request.contact) == 1 and request.route == [] and request.record_route == []
    assert (
        request.content_type is not None and request.content_type.content_type == "application/sdp"
    )
    assert request.header("v") is request.via[0]
    assert request.header("i") == h.CallIDHeader("3848276298220188511@atlanta.example.com")
    assert request.headers_named("VIA") == request.via
    assert request.header("X-Nothing") is None


def test_serialization_sets_content_length() -> None:
    request = invite()
    data = bytes(request)
    assert data.startswith(b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n")
    assert data.endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")
    assert request.to_bytes() == data
    parsed = parse_message(data)
    assert parsed.body == b"v=0\r\n" and parsed.via == request.via
    # A stale Content-Length is rewritten, duplicates dropped.
    stale = SIPRequest(
        "MESSAGE",
        request.uri,
        (*request.headers, h.ContentLengthHeader(99), h.ContentLengthHeader(7)),
        b"hello",
    )
    assert bytes(stale).count(b"Content-Length") == 1
    assert b"Content-Length: 5\r\n" in bytes(stale)


def test_invalid_construction() -> None:
    with pytest.raises(SIPParseError):
        SIPResponse(99, "x")
    with pytest.raises(SIPParseError):
        SIPResponse(200, "O\r\nK")
    with pytest.raises(TypeError):
        SIPRequest("INVITE", SIPURI("h"), ("Via: x",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SIPRequest("INVITE", SIPURI("h"), (), "body")  # type: ignore[arg-type]


def test_make_response() -> None:
    request = invite()
    ringing = make_response(request, 180, to_tag="8321234356")
    assert (ringing.code, ringing.reason) == (180, "Ringing")
    assert ringing.via == request.via
    assert ringing.from_ == request.from_ and ringing.call_id == request.call_id
    assert ringing.cseq == request.cseq
    assert ringing.to is not None and ringing.to.tag == "8321234356"
    assert ringing.headers_named("Timestamp") == []
    trying = make_response(request, 100, to_tag="ignored")
    assert trying.to == request.to and trying.headers_named("Timestamp") != []
    tagged = invite(to_tag="existing")
    ok = make_response(
        tagged, 200, "Fine", to_tag="new", headers=[h.SupportedHeader(("timer",))], body=b"x"
    )
    assert ok.to is not None and ok.to.tag == "existing" and ok.reason == "Fine"
    assert ok.header("Supported") == h.SupportedHeader(("timer",)) and ok.body == b"x"
    assert make_response(request, 299).reason == "Unknown"
    with pytest.raises(SIPParseError):
        make_response(SIPRequest("OPTIONS", SIPURI("h")), 200)


def test_server_keys() -> None:
    request = invite()
    key = server_key(request)
    assert key == ("3261", "z9hG4bK74bf9", "pc33.atlanta.example.com", 5060, "INVITE")
    assert server_key(invite(method="ACK", to_tag="t")) == key
    cancel = invite(method="CANCEL")
    assert server_key(cancel) != key and cancel_target_key(cancel) == key
    with pytest.raises(ValueError):
        cancel_target_key(request)
    assert server_key(invite(branch="z9hG4bK74bf8")) != key


def test_rfc2543_fallback_keys() -> None:
    for branch in ("1234", "z9hG4bK"):
        old = invite(branch=branch)
        key = server_key(old)
        assert key[0] == "2543"
        assert server_key(invite(branch=branch, method="ACK", to_tag="x")) == key
        assert cancel_target_key(invite(branch=branch, method="CANCEL")) == key
        assert server_key(invite(branch=branch, method="BYE")) != key


def test_client_keys() -> None:
    request = invite()
    response = make_response(request, 200, to_tag="x")
    assert client_key(response) == client_key_for_request(request) == ("z9hG4bK74bf9", "INVITE")
    cancel = invite(method="CANCEL")
    assert client_key(make_response(cancel, 200)) != client_key(response)
    with pytest.raises(SIPParseError):
        client_key(SIPResponse(200, "OK"))
