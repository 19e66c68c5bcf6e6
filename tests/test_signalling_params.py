"""Value checks of the signalling service's bus parameters."""

from __future__ import annotations

import pytest

from sipsimple.core.headers import ContactHeader, GenericHeader
from sipsimple_services.signalling.addresses import Destination
from sipsimple_services.signalling.auth import Credentials
from sipsimple_services.signalling.params import (
    check_code,
    check_content_type,
    check_timeout,
    parse_credentials,
    parse_headers,
    parse_route,
    parse_sip_uri,
)


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
