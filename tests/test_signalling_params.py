"""Value checks of the signalling service's bus parameters."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core.headers import ContactHeader, GenericHeader
from sipsimple_services.signalling.bus.params import (
    MAX_TIMEOUT,
    check_code,
    check_content_type,
    check_timeout,
    parse_credentials,
    parse_headers,
    parse_route,
    parse_sip_uri,
)
from sipsimple_services.signalling.glue.outgoing import RESERVED_HEADERS
from sipsimple_services.signalling.sip.auth import Credentials
from sipsimple_services.signalling.sip.message.addresses import Destination


def test_uri() -> None:
    assert parse_sip_uri("sips:a@b.test", "uri").secure
    for bad in ("tel:+1", "a@b", "sip:", "sip:a b"):
        with pytest.raises(ValueError, match="uri"):
            parse_sip_uri(bad, "uri")


def test_route() -> None:
    assert parse_route({"host": "127.0.0.1", "port": 5060}) == (
        Destination("127.0.0.1", 5060, "UDP"), None,
    )
    assert parse_route({"host": "[::1]", "port": 5061, "transport": "TLS",
                        "tls_name": "sip.test"}) == (Destination("::1", 5061, "TLS"), "sip.test")
    # the name travels with the destination, so each request verifies its own
    assert parse_route({"host": "::1", "port": 5061, "transport": "tls",
                        "tls_name": "sip.test"})[0].tls_name == "sip.test"
    assert parse_route({"host": "::1", "port": 5060, "transport": "tcp",
                        "tls_name": "sip.test"})[0].tls_name is None
    assert parse_route({"host": "sip.example.test", "port": 1, "transport": "tcp"})[0].host == (
        "sip.example.test"
    )
    for bad, message in [
        ({"port": 5060}, "host"), ({"host": "a b", "port": 1}, "host"),
        ({"host": "-a", "port": 1}, "host"), ({"host": "h", "port": 0}, "port"),
        ({"host": "h", "port": True}, "port"), ({"host": "h", "port": 1, "transport": "ws"},
                                                "transport"),
        ({"host": "h", "port": 1, "tls_name": ""}, "tls_name"),
        ({"host": "h", "port": 1, "x": 1}, "unknown"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_route(bad)


def test_headers() -> None:
    assert parse_headers(None) == []
    headers = parse_headers([["X-A", "1"], ["m", "<sip:a@b>, <sip:c@d>"]])
    assert headers[0] == GenericHeader("X-A", "1")
    assert [type(h) for h in headers[1:]] == [ContactHeader, ContactHeader]
    for bad, message in [
        ([["Via", "SIP/2.0/UDP h"]], "Via"), ([["call-id", "x"]], "Call-ID"),
        ([["X", 1]], "pair"), (["X: y"], "pair"), ([["Bad Name", "x"]], "header name"),
        ([["X", "a\r\nb"]], "CR or LF"), ([["Contact", "<<<"]], "headers"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_headers(bad)


def test_credentials() -> None:
    assert parse_credentials(None) is None
    assert parse_credentials({"username": "a", "password": "p", "realm": "r"}) == Credentials(
        "a", "p", "r",
    )
    assert parse_credentials(
        {"username": "a", "password": "p", "allow_md5": False, "allow_qopless": False}
    ) == Credentials("a", "p", None, allow_md5=False, allow_qopless=False)
    for bad, message in [
        ({"username": "a", "password": "p", "allow_md5": "no"}, "allow_md5"),
        ({"password": "p"}, "username"), ({"username": "a"}, "password"),
        ({"username": "a", "password": "p", "realm": 1}, "realm"),
        ({"username": "a", "password": "p", "extra": 1}, "unknown"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_credentials(bad)


def test_scalars() -> None:
    assert check_content_type(" text/plain;charset=utf-8 ") == "text/plain;charset=utf-8"
    assert check_code(100) == 100 and check_code(699) == 699
    assert check_timeout(None, 40.0) == 40.0 and check_timeout(2, 40.0) == 2.0
    for call in (lambda: check_content_type("text"), lambda: check_code(700),
                 lambda: check_timeout(0, 1), lambda: check_timeout(301, 1)):
        with pytest.raises(ValueError):
            call()


# --- properties: any value a client sends is accepted as valid or refused with ValueError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=8,
)
HOST = (st.ip_addresses().map(str) | st.from_regex(r"\[?[A-Za-z0-9.:\-]{0,20}\]?", fullmatch=True)
        | st.text(max_size=20))
PORT = st.sampled_from([0, 1, 5060, 65535, 65536, -1, True]) | st.integers() | JSON
TRANSPORT = st.sampled_from(["udp", "TCP", "tls", "ws", ""]) | JSON
ROUTE = st.fixed_dictionaries(
    {"host": HOST, "port": PORT},
    optional={"transport": TRANSPORT, "tls_name": st.text(max_size=10)},
) | st.fixed_dictionaries(
    {}, optional={"host": HOST | JSON, "port": PORT, "transport": TRANSPORT,
                  "tls_name": st.text(max_size=10) | JSON, "extra": JSON},
)
HEADER_NAME = st.sampled_from(["X-A", "Contact", "m", "Via", "call-id", "Subject", "Bad Name",
                               "Max-Forwards", "Route", "l", "i"]) | st.text(max_size=10)
HEADER_VALUE = st.sampled_from(["<sip:a@b>", "<sip:a@b>, <sip:c@d>", "x", "70", "a\r\nb",
                                "<<<"]) | st.text(max_size=30)
PAIRS = st.lists(st.tuples(HEADER_NAME, HEADER_VALUE).map(list) | st.lists(JSON, max_size=3)
                 | JSON, max_size=4)


@given(ROUTE)
def test_any_route_is_a_destination_or_value_error(route: dict[str, Any]) -> None:
    try:
        destination, tls_name = parse_route(route)
    except ValueError as exc:
        assert str(exc).startswith("route:")
        return
    assert 0 < destination.port < 65536 and destination.transport in ("UDP", "TCP", "TLS")
    assert destination.host and not set(destination.host) & set(" \r\n[]")
    assert tls_name is None or (isinstance(tls_name, str) and tls_name)


@given(PAIRS)
def test_any_headers_are_headers_we_do_not_set_or_value_error(pairs: Any) -> None:
    try:
        headers = parse_headers(pairs)
    except ValueError as exc:
        assert str(exc).startswith("headers:") or "pair" in str(exc)
        return
    for header in headers:
        assert header.name.lower() not in RESERVED_HEADERS
        assert not set(str(header)) & set("\r\n")


@given(st.none() | st.fixed_dictionaries(
    {}, optional={"username": st.text(max_size=5) | JSON, "password": st.text(max_size=5) | JSON,
                  "realm": st.text(max_size=5) | JSON, "other": JSON}))
def test_any_credentials_are_credentials_or_value_error(credentials: Any) -> None:
    try:
        result = parse_credentials(credentials)
    except ValueError as exc:
        assert str(exc).startswith("credentials:")
        return
    assert result is None or (result.username and isinstance(result.password, str))


@given(st.integers(), st.floats() | st.integers() | st.none(), st.text(max_size=30))
def test_scalars_are_in_range_or_value_error(code: int, timeout: float | None, text: str) -> None:
    if 100 <= code <= 699:
        assert check_code(code) == code
    else:
        with pytest.raises(ValueError):
            check_code(code)
    if timeout is None or 0 < timeout <= MAX_TIMEOUT:
        assert 0 < check_timeout(timeout, 40.0) <= MAX_TIMEOUT
    else:
        with pytest.raises(ValueError):
            check_timeout(timeout, 40.0)
    try:
        content_type = check_content_type(text)
    except ValueError:
        return
    assert "/" in content_type and not set(content_type) & set("\r\n")


@given(st.text(max_size=40) | st.builds("sip:{}".format, st.text(max_size=30)))
def test_any_text_is_a_sip_uri_or_value_error(text: str) -> None:
    try:
        uri = parse_sip_uri(text, "to_uri")
    except ValueError as exc:
        assert str(exc).startswith("to_uri:")
        return
    assert parse_sip_uri(str(uri), "to_uri") == uri
