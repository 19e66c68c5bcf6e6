"""Requests we send outside dialogs: building them, header pairs, digest retries.

The digest retry runs against a peer engine whose transaction user
challenges every request without credentials (SIPp does the same in
test_signalling_service).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core.headers import (
    AuthorizationHeader,
    FromHeader,
    GenericHeader,
    RouteHeader,
    ToHeader,
    WWWAuthenticateHeader,
)
from sipsimple_services.signalling.glue.engine import SignallingEngine
from sipsimple_services.signalling.glue.outgoing import (
    build_request,
    header_pairs,
    headers_from_pairs,
    send_out_of_dialog,
)
from sipsimple_services.signalling.sip.auth import Credentials
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, make_response
from sipsimple_services.signalling.sip.transactions.effects import RequestReceived, TUEvent
from sipsimple_services.signalling.transport import TransportConfig


class Challenger:
    """Answers 401 until a request carries an Authorization header, then 200."""

    def __init__(self) -> None:
        self.requests: list[SIPRequest] = []

    def handle(self, event: TUEvent, engine: SignallingEngine) -> None:
        if not isinstance(event, RequestReceived):
            return
        request = event.request
        self.requests.append(request)
        authorized = any(isinstance(h, AuthorizationHeader) for h in request.headers)
        challenge = WWWAuthenticateHeader.parse('Digest realm="test", nonce="n1", qop="auth"')
        response = make_response(request, 200 if authorized else 401, to_tag="t",
                                 headers=() if authorized else (challenge,))
        engine.send_response(event.key, response)


@pytest.fixture
def engines() -> Iterator[tuple[SignallingEngine, SignallingEngine, Challenger]]:
    challenger = Challenger()
    a = SignallingEngine(TransportConfig(host="127.0.0.1", tcp_port=None))
    b = SignallingEngine(TransportConfig(host="127.0.0.1", tcp_port=None), challenger)
    a.start()
    b.start()
    yield a, b, challenger
    a.stop()
    b.stop()


def send(a: SignallingEngine, b: SignallingEngine, credentials: Credentials | None) -> int:
    destination = Destination("127.0.0.1", b.local_addresses["UDP"].port)
    uri = SIPURI(host="127.0.0.1", user="bob")
    outcome = send_out_of_dialog(
        a, "MESSAGE", uri, destination, from_uri=SIPURI(host="a.test", user="alice"),
        to_uri=uri, user_agent="t/1", content_type="text/plain", body=b"hi",
        credentials=credentials, timeout=10,
    )
    return outcome.response.code


def test_digest_retry(engines: tuple[SignallingEngine, SignallingEngine, Challenger]) -> None:
    a, b, challenger = engines
    assert send(a, b, Credentials("alice", "secret")) == 200
    first, second = challenger.requests
    assert first.call_id == second.call_id and first.from_ == second.from_
    assert [first.cseq.number, second.cseq.number] == [1, 2]  # type: ignore[union-attr]
    assert first.top_via.branch != second.top_via.branch  # type: ignore[union-attr]
    authorization = second.header("Authorization")
    assert authorization is not None and 'username="alice"' in str(authorization)
    assert second.body == b"hi"


def test_without_credentials_the_401_is_final(
    engines: tuple[SignallingEngine, SignallingEngine, Challenger],
) -> None:
    a, b, challenger = engines
    assert send(a, b, None) == 401
    assert len(challenger.requests) == 1


def test_build_request_and_reserved_headers() -> None:
    engine = SignallingEngine(TransportConfig(host="127.0.0.1", tcp_port=None))
    engine.start()
    try:
        destination = Destination("127.0.0.1", 5060)
        uri = SIPURI(host="example.com", user="bob")
        request = build_request(
            engine, "OPTIONS", uri, destination,
            from_header=FromHeader(uri, parameters={"tag": "x"}), to_header=ToHeader(uri),
            call_id="c", cseq=7, user_agent="t/1", headers=[GenericHeader("X-A", "1")],
        )
        text = bytes(request).decode()
        port = engine.local_addresses["UDP"].port
        assert text.startswith("OPTIONS sip:bob@example.com SIP/2.0\r\n"
                               f"Via: SIP/2.0/UDP 127.0.0.1:{port};rport\r\n")
        assert "CSeq: 7 OPTIONS\r\n" in text and "X-A: 1\r\n" in text
        with pytest.raises(SIPParseError, match="Via"):
            send_out_of_dialog(engine, "OPTIONS", uri, destination, from_uri=uri, to_uri=uri,
                               user_agent="t", headers=[GenericHeader("Via", "x")])
    finally:
        engine.stop()


def test_header_pairs_round_trip() -> None:
    headers = headers_from_pairs([["route", "<sip:p1;lr>, <sip:p2;lr>"], ["X-B", "v"]])
    assert [type(h) for h in headers] == [RouteHeader, RouteHeader, GenericHeader]
    assert header_pairs(headers) == [["Route", "<sip:p1;lr>"], ["Route", "<sip:p2;lr>"],
                                     ["X-B", "v"]]
    with pytest.raises(ValueError):
        headers_from_pairs([("X", "y", "z")])
