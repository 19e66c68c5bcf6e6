"""sipsimple.core.headers: parse, serialize, validate, registry."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core import headers as h
from sipsimple.core.headers import header_type

ROUND_TRIPS: list[tuple[type[h.Header], str]] = [
    (h.FromHeader, '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'),
    (h.ToHeader, "<sip:bob@biloxi.example.com>"),
    (h.ContactHeader, '<sip:a@10.0.0.1:5060;ob>;expires=3600;q=0.7;+sip.instance="<urn:uuid:1>"'),
    (h.ContactHeader, "*"),
    (h.RouteHeader, "<sip:p1.example.com;lr>"),
    (h.RecordRouteHeader, "<sip:p2.example.com;lr;ftag=x>"),
    (h.ViaHeader, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776;rport=5070;received=10.0.0.9"),
    (h.ViaHeader, "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKx;maddr=224.0.0.1;ttl=16"),
    (h.CSeqHeader, "4711 INVITE"),
    (h.CallIDHeader, "a84b4c76e66710@pc33.atlanta.example.com"),
    (h.MaxForwardsHeader, "70"),
    (h.ExpiresHeader, "3600"),
    (h.MinExpiresHeader, "60"),
    (h.ContentLengthHeader, "0"),
    (
        h.WWWAuthenticateHeader,
        'Digest realm="atlanta.example.com", qop="auth,auth-int", nonce="84a4cc6f", '
        'opaque="", stale=FALSE, algorithm=MD5',
    ),
    (h.ProxyAuthenticateHeader, 'Digest realm="x", nonce="y", algorithm=SHA-256'),
    (
        h.AuthorizationHeader,
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", '
        'qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4", opaque="5ccc"',
    ),
    (h.ProxyAuthorizationHeader, 'Digest username="a", response="b"'),
    (h.EventHeader, "presence;id=42"),
    (h.EventHeader, "conference"),
    (h.AllowEventsHeader, "presence, refer, conference"),
    (h.SubscriptionStateHeader, "terminated;reason=timeout;retry-after=30"),
    (h.ReferToHeader, "<sip:carol@example.com?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>"),
    (h.ReferredByHeader, '"Alice" <sip:alice@example.com>'),
    (h.ReplacesHeader, "425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only"),
    (h.ReasonHeader, 'SIP;cause=200;text="Call completed elsewhere"'),
    (h.WarningHeader, '301 isi.edu "Incompatible network address type \\"E.164\\""'),
    (h.SubjectHeader, "Project X"),
    (h.SupportedHeader, "replaces, 100rel"),
    (h.SupportedHeader, ""),
    (h.RequireHeader, "timer"),
    (h.AllowHeader, "INVITE, ACK, BYE"),
    (h.UserAgentHeader, "sipsimple/0.1 (linux)"),
    (h.ServerHeader, "Kamailio 5.8"),
    (h.ContentTypeHeader, "multipart/mixed;boundary=unique-boundary-1"),
    (h.ContentTypeHeader, 'text/plain;charset="utf-8"'),
    (h.DateHeader, "Sat, 13 Nov 2010 23:29:00 GMT"),
]


@pytest.mark.parametrize(("kind", "text"), ROUND_TRIPS)
def test_round_trip(kind: type[h.Header], text: str) -> None:
    value = kind.parse(text)
    assert str(value) == text
    assert kind.parse(str(value)) == value
    assert hash(value) == hash(kind.parse(text))


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (h.ViaHeader, "SIP/2.0/UDP"),
        (h.ViaHeader, "SIP/2.0 host"),
        (h.ViaHeader, "SIP/2.0/UDP h;;"),
        (h.ViaHeader, "SIP/2.0/UDP h;branch"),
        (h.ViaHeader, "SIP/2.0/UDP h;rport=0"),
        (h.ViaHeader, "SIP/2.0/UDP h;received=x.y"),
        (h.ViaHeader, "SIP/2.0/UDP h;ttl=256"),
        (h.ViaHeader, "SIP/2.0/UDP h:99999"),
        (h.ViaHeader, "SIP/2.0/UDP ::1"),
        (h.CSeqHeader, "1"),
        (h.CSeqHeader, "x INVITE"),
        (h.CSeqHeader, "4294967296 INVITE"),
        (h.CSeqHeader, "1 INV ITE"),
        (h.CallIDHeader, ""),
        (h.CallIDHeader, "a b"),
        (h.CallIDHeader, "a@b@c"),
        (h.MaxForwardsHeader, "256"),
        (h.MaxForwardsHeader, "-1"),
        (h.ExpiresHeader, "1" + "0" * 30),
        (h.ContentLengthHeader, "five"),
        (h.ContactHeader, "<sip:a@b>;expires=x"),
        (h.ContactHeader, "<sip:a@b>;q=1.5"),
        (h.ContactHeader, "*x"),
        (h.ToHeader, ""),
        (h.FromHeader, "<sip:a@b"),
        (h.AuthorizationHeader, ""),
        (h.AuthorizationHeader, 'Digest realm="x'),
        (h.AuthorizationHeader, "Digest realm"),
        (h.WWWAuthenticateHeader, "Digest a=b c"),
        (h.EventHeader, ""),
        (h.EventHeader, "pres ence"),
        (h.SubscriptionStateHeader, "active;expires=x"),
        (h.ReplacesHeader, "abc;to-tag=1"),
        (h.ReasonHeader, "SIP;cause=x"),
        (h.WarningHeader, '1812 overture "In Progress"'),
        (h.WarningHeader, "301 a b"),
        (h.SupportedHeader, "a, , b"),
        (h.AllowHeader, "IN VITE"),
        (h.ContentTypeHeader, "application"),
        (h.ContentTypeHeader, "a/b;c"),
        (h.DateHeader, "Fri, 01 Jan 2010 16:00:00 EST"),
        (h.DateHeader, "Sat, 31 Feb 2010 00:00:00 GMT"),
    ],
)
def test_invalid(kind: type[h.Header], text: str) -> None:
    with pytest.raises(SIPParseError):
        kind.parse(text)


def test_accessors() -> None:
    via = h.ViaHeader.parse("SIP / 2.0 / udp host.example.com ; branch = z9hG4bKa ; rport")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "host.example.com",
        None,
        "z9hG4bKa",
    )
    assert via.has_rport and via.rport is None and via.is_rfc3261
    assert via.sent_by == ("host.example.com", None)
    answered = via.with_parameters(received="192.0.2.1", rport=5070)
    assert (answered.received, answered.rport) == ("192.0.2.1", 5070)
    assert not h.ViaHeader.parse("SIP/2.0/UDP h;branch=1").is_rfc3261

    contact = h.ContactHeader.parse('<sip:a@b>;expires=60;q=0.5;+sip.instance="<urn:uuid:x>"')
    assert (contact.expires, contact.q, contact.instance) == (60, 0.5, "urn:uuid:x")
    assert h.ContactHeader.parse("*").is_wildcard
    assert str(h.ContactHeader.wildcard()) == "*"

    to = h.ToHeader(SIPURI("example.com", user="bob"), "Bob")
    tagged = to.with_tag("abc")
    assert tagged.tag == "abc" and to.tag is None and tagged.with_tag(None) == to
    assert h.FrozenToHeader is h.ToHeader and h.FrozenFromHeader is h.FromHeader

    auth = h.WWWAuthenticateHeader.parse(
        'Digest realm="a, b", nonce="n", qop="auth,auth-int", stale=TRUE'
    )
    assert (auth.realm, auth.nonce, auth.qop, auth.stale) == (
        "a, b",
        "n",
        ("auth", "auth-int"),
        True,
    )
    creds = h.AuthorizationHeader.digest(
        username="bob",
        realm="r",
        nonce="n",
        uri="sip:x",
        response="abc",
        qop="auth",
        nc=1,
        cnonce="c",
        algorithm="MD5",
    )
    assert str(creds) == (
        'Digest username="bob", realm="r", nonce="n", uri="sip:x", '
        'response="abc", qop=auth, nc=00000001, cnonce="c", algorithm=MD5'
    )
    assert (creds.username, creds.nc, creds.cnonce) == ("bob", "00000001", "c")
    assert h.AuthorizationHeader.parse("NoOneKnowsThisScheme opaque-data=here").scheme == (
        "NoOneKnowsThisScheme"
    )

    state = h.SubscriptionStateHeader.parse("active;expires=600")
    assert (state.state, state.expires, state.reason, state.retry_after) == (
        "active",
        600,
        None,
        None,
    )
    replaces = h.ReplacesHeader.parse("a@b;from-tag=2;to-tag=1")
    assert (replaces.call_id, replaces.to_tag, replaces.from_tag, replaces.early_only) == (
        "a@b",
        "1",
        "2",
        False,
    )
    reason = h.ReasonHeader.new("Q.850", 16, 'Terminated "normally"')
    assert h.ReasonHeader.parse(str(reason)) == reason
    assert (reason.cause, reason.text) == (16, 'Terminated "normally"')
    assert "REPLACES" in h.SupportedHeader.parse("replaces, timer")
    assert h.EventHeader.parse("presence;id=7").id == "7"
    date = h.DateHeader.parse("Sat, 13 Nov 2010 23:29:00 GMT")
    assert date.value == datetime.datetime(2010, 11, 13, 23, 29, tzinfo=datetime.UTC)
    assert h.ContentTypeHeader.parse("Application/SDP").content_type == "application/sdp"
    assert int(h.MaxForwardsHeader.parse("0068")) == 68


def test_registry() -> None:
    assert header_type("v") is h.ViaHeader and header_type("VIA") is h.ViaHeader
    assert header_type("i") is h.CallIDHeader and header_type("m") is h.ContactHeader
    assert header_type("l") is h.ContentLengthHeader and header_type("c") is h.ContentTypeHeader
    assert header_type("f") is h.FromHeader and header_type("t") is h.ToHeader
    assert header_type("s") is h.SubjectHeader and header_type("k") is h.SupportedHeader
    assert header_type("o") is h.EventHeader and header_type("u") is h.AllowEventsHeader
    assert header_type("r") is h.ReferToHeader and header_type("b") is h.ReferredByHeader
    assert header_type("www-authenticate") is h.WWWAuthenticateHeader
    assert header_type("X-Custom") is None and header_type("e") is None
    assert (
        h.canonical_name("e") == "Content-Encoding" and h.canonical_name("x") == "Session-Expires"
    )
    assert h.canonical_name("X-Custom") == "X-Custom"
    assert h.canonical_name("cAlL-iD") == "Call-ID"


def test_generic_header() -> None:
    header = h.GenericHeader("X-Foo", "a, b")
    assert (header.name, str(header)) == ("X-Foo", "a, b")
    for name, value in (("bad name", "x"), ("X", "a\r\nb"), ("X", "\udc80")):
        with pytest.raises(SIPParseError):
            h.GenericHeader(name, value)


_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,12}", fullmatch=True)
_hosts = st.sampled_from(["example.com", "10.0.0.1", "2001:db8::7", "a-b.c"])


@given(
    _token,
    _hosts,
    st.none() | st.integers(1, 65535),
    _token,
    st.booleans(),
    st.none() | st.integers(1, 65535),
)
def test_via_round_trip(
    transport: str, host: str, port: int | None, branch: str, rport: bool, rport_value: int | None
) -> None:
    params: dict[str, str | None] = {"branch": branch}
    if rport:
        params["rport"] = str(rport_value) if rport_value else None
    via = h.ViaHeader(transport, host, port, params)
    assert h.ViaHeader.parse(str(via)) == via


@given(st.integers(0, 2**32 - 1), _token)
def test_cseq_round_trip(number: int, method: str) -> None:
    cseq = h.CSeqHeader(number, method)
    assert h.CSeqHeader.parse(str(cseq)) == cseq


@given(st.text(max_size=40), st.sampled_from([cls for cls, _ in ROUND_TRIPS]))
def test_random_values_raise_only_parse_errors(text: str, kind: type[h.Header]) -> None:
    try:
        value = kind.parse(text)
    except SIPParseError:
        return
    assert kind.parse(str(value)) == value
