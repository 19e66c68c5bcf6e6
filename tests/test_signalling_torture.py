"""RFC 4475 sections 3.1.1 (valid) and 3.1.2 (invalid) through the message parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsimple.core import SIPURI, SIPParseError, TelURI
from sipsimple.core import headers as h
from sipsimple.core.headers import GenericHeader, SubjectHeader, WarningHeader
from sipsimple_services.signalling.sip.message.parser import (
    KeepAlive,
    ParseFailure,
    StreamParser,
    parse_message,
)
from sipsimple_services.signalling.sip.message.values import (
    SIPRequest,
    SIPResponse,
    reject_malformed,
)

DATA = Path(__file__).parent / "data" / "rfc4475"

VALID = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
]
INVALID = {
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "scalarlg": 400,
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "baddate": 400,
    "regbadct": 400,
    "badaspec": 400,
    "baddn": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 400,
    "bigcode": 400,
}


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse(name: str) -> None:
    message = parse_message(load(name))
    length = message.header("Content-Length")
    assert length is not None
    assert len(message.body) == int(str(length))
    # What we write parses back to the same message.
    assert parse_message(bytes(message)) == message


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_on_a_stream(name: str) -> None:
    if name == "dblreq":
        pytest.skip("dblreq's trailing octets are datagram noise, not a second stream message")
    data = load(name)
    events = StreamParser().feed(data * 2)
    assert events == [parse_message(data)] * 2


@pytest.mark.parametrize(("name", "status"), sorted(INVALID.items()))
def test_invalid_messages_raise(name: str, status: int) -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(load(name))
    assert info.value.status == status
    assert type(info.value).__name__ in ("SIPParseError", "SIPURIError")


def test_wsinv() -> None:
    message = parse_message(load("wsinv"))
    assert isinstance(message, SIPRequest)
    assert message.method == "INVITE"
    assert message.uri == SIPURI(
        "chair-dnrc.example.com", user="vivekg", parameters={"unknownparam": None}
    )
    assert message.to is not None and message.to.tag == "1918181833n"
    assert message.from_ is not None and message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.cseq is not None and (message.cseq.number, message.cseq.method) == (9, "INVITE")
    vias = message.via
    assert [(via.transport, via.host, via.branch) for via in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert vias[0].has_rport and vias[0].rport is None
    assert message.header("s") == SubjectHeader("")
    assert message.header("newfangledheader") == GenericHeader(
        "NewFangledHeader", "newfangled value continued newfangled value"
    )
    assert str(message.header("UnknownHeaderWithUnusualValue")) == ";;,,;;,;"
    [route] = message.route
    assert isinstance(route.uri, SIPURI) and "lr" in route.uri.parameters
    [contact] = message.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.parameters == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert message.content_type is not None
    assert message.content_type.content_type == "application/sdp"
    assert len(message.body) == 150


def test_intmeth() -> None:
    message = parse_message(load("intmeth"))
    assert isinstance(message, SIPRequest)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = message.uri
    assert isinstance(uri, SIPURI)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to is not None
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_ is not None
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.tag == "_token~1'+`*%!-."
    assert message.from_.parameter("fromParam''~+*_!.-%") == "работающий"
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.top_via is not None and message.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert str(message.header("extensionHeader-!.%*+_`'~")) == "\ufeff大停電"


def test_escapes() -> None:
    esc01 = parse_message(load("esc01"))
    assert isinstance(esc01, SIPRequest) and isinstance(esc01.uri, SIPURI)
    assert esc01.uri.user == "sips:user@example.com"
    assert esc01.to is not None and esc01.to.uri == SIPURI("example.com", user="user")
    assert esc01.from_ is not None and isinstance(esc01.from_.uri, SIPURI)
    assert esc01.from_.uri.user == "I have spaces"
    [contact] = esc01.contact
    assert isinstance(contact.uri, SIPURI)
    assert contact.uri.user == "caller"
    assert dict(contact.uri.parameters) == {"lr": None, "name": "value%41"}
    escnull = parse_message(load("escnull"))
    assert [c.uri.user for c in escnull.contact if isinstance(c.uri, SIPURI)] == [
        "\x00",
        "\x00\x00",
    ]
    esc02 = parse_message(load("esc02"))
    assert isinstance(esc02, SIPRequest) and esc02.method == "RE%47IST%45R"
    assert esc02.to is not None and esc02.to.display_name == "%Z%45"
    assert len(esc02.contact) == 2
    assert str(esc02.header("C%6Fntact")) == "<sip:alias2@host2.example.com>"
    assert esc02.top_via is not None and esc02.top_via.branch == "z9hG4bK209%fzsnel234"


def test_other_valid_details() -> None:
    lwsdisp = parse_message(load("lwsdisp"))
    assert lwsdisp.from_ is not None and lwsdisp.from_.display_name == "caller"
    longreq = parse_message(load("longreq"))
    assert len(longreq.via) == 34
    assert longreq.to is not None and isinstance(longreq.to.uri, SIPURI)
    assert longreq.to.uri.port == 6000 and len(longreq.to.uri.parameters) == 3
    dblreq = parse_message(load("dblreq"))
    assert isinstance(dblreq, SIPRequest) and dblreq.method == "REGISTER"
    assert dblreq.body == b""
    semiuri = parse_message(load("semiuri"))
    assert isinstance(semiuri, SIPRequest) and isinstance(semiuri.uri, SIPURI)
    assert semiuri.uri.user == "user;par=u@example.net" and not semiuri.uri.parameters
    transports = parse_message(load("transports"))
    assert [via.transport for via in transports.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    mpart = parse_message(load("mpart01"))
    assert mpart.content_type is not None
    assert mpart.content_type.parameter("boundary") == "7a9cbec02ceef655"
    assert b"\x00" in mpart.body and len(mpart.body) == 553
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, SIPResponse) and unreason.code == 200
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse_message(load("noreason"))
    assert isinstance(noreason, SIPResponse) and (noreason.code, noreason.reason) == (100, "")


def test_mismatch01_parses_without_checks() -> None:
    message = parse_message(load("mismatch01"), check=False)
    assert isinstance(message, SIPRequest) and message.cseq is not None
    assert (message.method, message.cseq.method) == ("OPTIONS", "INVITE")


# The invalid requests RFC 4475 wants answered with 400 (505 for badvers).
# Each is answerable: its Via parsed, and a From, To, Call-ID or CSeq that
# did not parse is copied as it came. Only badinv01 cannot be: its only Via
# is the broken header, so there is nowhere a response could be matched.
ANSWERED = {
    "quotbal": "To",
    "baddn": "From",
    "badaspec": "To",
    "scalar02": "CSeq",
    "regbadct": "Contact",
    "baddate": "Date",
    "escruri": None,
    "ltgtruri": None,
    "lwsruri": None,
    "lwsstart": None,
    "trws": None,
    "clerr": None,
    "ncl": "Content-Length",
    "mismatch01": None,
    "mismatch02": None,
    "badvers": None,
}


@pytest.mark.parametrize(("name", "bad_header"), sorted(ANSWERED.items()))
def test_invalid_requests_are_answered(name: str, bad_header: str | None) -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(load(name))
    partial = info.value.partial
    assert partial is not None and partial.is_request and partial.can_respond
    assert partial.bad_header == bad_header
    status = info.value.status
    answer = reject_malformed(partial, status, str(info.value), to_tag="x")
    assert answer.code == INVALID[name] == status
    assert answer.reason == ("Bad Request" if status == 400 else "Version Not Supported")
    [warning] = answer.headers_named("Warning")
    assert isinstance(warning, WarningHeader) and warning.code == 399
    if bad_header is not None:
        assert warning.text.startswith(f"{bad_header}: ")
    data = bytes(answer)
    assert data.startswith(f"SIP/2.0 {status} ".encode()) and data.endswith(b"\r\n\r\n")
    # What the request had, the answer has, copied as it came when it did not parse.
    request = load(name)
    for field in ("Call-ID", "CSeq", "From"):
        header = partial.copied(h.header_type(field) or h.GenericHeader, field)
        assert header is not None and f"{field}: {header}".encode() in data
    if bad_header not in ("From", "To", "CSeq", "Call-ID"):
        # nothing raw copied: the answer is a valid response with our tag
        parsed = parse_message(data)
        assert isinstance(parsed, SIPResponse) and parsed.to is not None
        assert parsed.to.tag == "x" or b";tag=" in request.split(b"\r\n\r\n")[0]


def test_badinv01_is_not_answered() -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(load("badinv01"))
    partial = info.value.partial
    assert partial is not None and partial.bad_header == "Via"
    assert not partial.via and not partial.can_respond
    with pytest.raises(SIPParseError):
        reject_malformed(partial, 400, str(info.value))


def test_clerr_on_a_stream_waits_for_the_body() -> None:
    parser = StreamParser()
    assert parser.feed(load("clerr")) == []
    assert not parser.failed


def test_ncl_on_a_stream_is_fatal() -> None:
    parser = StreamParser()
    [event] = parser.feed(load("ncl"))
    assert isinstance(event, ParseFailure) and event.fatal
    assert parser.failed and parser.feed(b"OPTIONS") == []


def test_unknown_scheme_request_uri() -> None:
    message = parse_message(
        b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n"
        b"To: sip:user@example.com\r\nFrom: sip:caller@example.net;tag=384\r\n"
        b"Max-Forwards: 3\r\nCall-ID: unkscm.nasdfasser0q239nwsdfasdkl34\r\n"
        b"CSeq: 3923423 OPTIONS\r\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(message, SIPRequest)
    assert str(message.uri) == "nobodyKnowsThisScheme:totallyopaquecontent"
    tel = parse_message(
        bytes(message).replace(
            b"nobodyKnowsThisScheme:totallyopaquecontent", b"tel:+1-212-555-0101"
        )
    )
    assert isinstance(tel, SIPRequest) and isinstance(tel.uri, TelURI)
    assert KeepAlive(ping=True) != KeepAlive(ping=False)
