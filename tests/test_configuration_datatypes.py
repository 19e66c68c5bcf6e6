"""Setting value types: validation, text parsing, stored state."""

from __future__ import annotations

from typing import Any

import pytest

from sipsimple.configuration.datatypes import (
    AudioCodecList,
    Hostname,
    IPAddress,
    MSRPConnectionModel,
    MSRPRelayAddress,
    MSRPTransport,
    NameserverAddress,
    NameserverList,
    NetworkAddress,
    NonNegativeInteger,
    Path,
    Port,
    PortRange,
    PositiveInteger,
    SampleRate,
    SIPAddress,
    SIPProxyAddress,
    SIPTransport,
    SIPTransportList,
    SRTPKeyNegotiation,
    XCAPRoot,
    coerce_value,
    value_from_state,
    value_from_string,
    value_to_json,
    value_to_state,
    value_to_string,
)
from sipsimple.configuration.datatypes.base import ListValue

TYPES_AND_TEXT: list[tuple[type, str]] = [
    (bool, "true"),
    (int, "-3"),
    (str, " spaced "),
    (Port, "5060"),
    (NonNegativeInteger, "0"),
    (PositiveInteger, "1"),
    (SampleRate, "48000"),
    (PortRange, "50000-50500"),
    (Path, "~/Downloads"),
    (SIPTransport, "tls"),
    (SIPTransportList, "tls, tcp, udp"),
    (AudioCodecList, "opus, G722, PCMU, PCMA"),
    (MSRPTransport, "tcp"),
    (MSRPConnectionModel, "acm"),
    (SRTPKeyNegotiation, "sdes_mandatory"),
    (Hostname, "sip.example.com"),
    (IPAddress, "2001:db8::1"),
    (SIPAddress, "alice@example.com"),
    (XCAPRoot, "https://xcap.example.com/xcap-root"),
    (NetworkAddress, "[2001:db8::1]:3478"),
    (NameserverList, "127.0.0.1:5353, [::1]"),
    (SIPProxyAddress, "proxy.example.com:5061;transport=tls"),
    (MSRPRelayAddress, "relay.example.com:2855;transport=tls"),
]


@pytest.mark.parametrize(("type_", "text"), TYPES_AND_TEXT)
def test_text_and_state_round_trip(type_: type, text: str) -> None:
    value = value_from_string(type_, text)
    assert value_to_string(type_, value) == text
    state = value_to_state(type_, value)
    assert isinstance(state, str | list)
    assert value_from_state(type_, state) == value
    assert coerce_value(type_, value) == value


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (Port, 65536),
        (Port, -1),
        (NonNegativeInteger, -1),
        (PositiveInteger, 0),
        (SampleRate, 22050),
        (SIPTransport, "sctp"),
        (SIPTransportList, []),
        (SIPTransportList, ["udp", "udp"]),
        (AudioCodecList, ["speex"]),
        (MSRPTransport, "udp"),
        (MSRPConnectionModel, "direct"),
        (SRTPKeyNegotiation, "zrtp"),
        (Hostname, "bad host"),
        (Hostname, "-leading.example.com"),
        (Hostname, "a" * 64 + ".com"),
        (IPAddress, "example.com"),
        (SIPAddress, "no-at-sign"),
        (SIPAddress, "@example.com"),
        (XCAPRoot, "ftp://example.com"),
        (Path, ""),
    ],
)
def test_invalid_values_raise_value_error(type_: type, value: Any) -> None:
    with pytest.raises(ValueError):
        coerce_value(type_, value)


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (int, "60"),
        (int, True),
        (bool, 1),
        (str, 5),
        (Port, "5060"),
        (Port, True),
        (SIPTransport, 1),
        (AudioCodecList, "opus"),
        (PortRange, "50000-50500"),
        (NetworkAddress, "host:1"),
    ],
)
def test_assignment_does_not_convert_text(type_: type, value: Any) -> None:
    # Text goes through value_from_string; assignment only takes Python values.
    with pytest.raises(TypeError):
        coerce_value(type_, value)


def test_choices_are_case_insensitive_and_canonical() -> None:
    assert AudioCodecList.from_string("OPUS, g722,pcmu") == ("opus", "G722", "PCMU")
    assert SIPTransport("TLS") == "tls"
    assert value_from_string(bool, " Yes ") is True
    assert value_from_string(bool, "off") is False
    with pytest.raises(ValueError, match="boolean"):
        value_from_string(bool, "maybe")


def test_port_range() -> None:
    assert PortRange.from_string(" 1000-2000 ") == PortRange(1000, 2000)
    assert coerce_value(PortRange, (1000, 2000)) == PortRange(1000, 2000)
    for text in ("2000-1000", "0-10", "1000", "a-b", "1000-70000"):
        with pytest.raises(ValueError, match="port range"):
            PortRange.from_string(text)


def test_network_addresses() -> None:
    assert NetworkAddress.from_string("Example.COM") == NetworkAddress("example.com")
    assert NetworkAddress.from_string("::1") == NetworkAddress("::1")
    assert str(NetworkAddress("::1", 3478)) == "[::1]:3478"
    assert str(NetworkAddress("192.0.2.1", 5)) == "192.0.2.1:5"
    for text in ("[example.com]:5", "host:", "host:0", "host:99999", "[::1", "a b:5"):
        with pytest.raises(ValueError):
            NetworkAddress.from_string(text)
    with pytest.raises(ValueError, match="IP address"):
        NameserverAddress.from_string("dns.example.com")
    assert NameserverList.from_string("") == ()


def test_proxy_and_relay_addresses() -> None:
    proxy = SIPProxyAddress.from_string("proxy.example.com")
    assert (proxy.host, proxy.port, proxy.transport) == ("proxy.example.com", None, "udp")
    assert str(proxy) == "proxy.example.com;transport=udp"
    assert SIPProxyAddress.from_string("[::1]:5061;TRANSPORT=TLS").transport == "tls"
    assert MSRPRelayAddress.from_string("relay.example.com").transport == "tls"
    with pytest.raises(ValueError, match="transport"):
        MSRPRelayAddress.from_string("relay.example.com;transport=udp")
    with pytest.raises(ValueError, match="parameter"):
        SIPProxyAddress.from_string("proxy.example.com;lr")


def test_sip_address_drops_scheme_and_lowercases_domain() -> None:
    assert SIPAddress("sip:Alice@Example.COM") == "Alice@example.com"
    assert SIPAddress("sips:bob@192.0.2.1") == "bob@192.0.2.1"


def test_list_state_accepts_a_single_hand_written_item() -> None:
    assert value_from_state(SIPTransportList, "udp") == ("udp",)
    assert value_from_state(SIPTransportList, ["udp", "tls"]) == ("udp", "tls")


def test_value_types_are_immutable() -> None:
    with pytest.raises(AttributeError):
        PortRange(1, 2).start = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        NetworkAddress("h").port = 5  # type: ignore[misc]


def test_path_normalized() -> None:
    assert Path("~/x").normalized.endswith("/x")
    assert not Path("~/x").normalized.startswith("~")


def test_address_lists_take_text_items() -> None:
    assert NameserverList(["127.0.0.1:5353", "::1"]) == (
        NameserverAddress("127.0.0.1", 5353), NameserverAddress("::1"),
    )
    assert coerce_value(NameserverList, ["[::1]:53"]) == (NameserverAddress("::1", 53),)
    with pytest.raises(ValueError, match="IP address"):
        NameserverList(["dns.example.com"])
    with pytest.raises(TypeError, match=r"NameserverAddress expects .*IP address\[:port\]"):
        NameserverList([5353])
    with pytest.raises(TypeError, match=r"host\[:port\]\[;transport=\.\.\.\]"):
        coerce_value(SIPProxyAddress, 1)

    class RangeList(ListValue):
        item_type = PortRange

    assert RangeList(["1000-2000"]) == (PortRange(1000, 2000),)
    # Items that are themselves strings or numbers stay strict.
    with pytest.raises(ValueError):
        SIPTransportList([" udp"])


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        (bool, "yes", True),
        (int, "-3", -3),
        (Port, "5060", 5060),
        (str, "x", "x"),
        (SIPTransportList, "tls, udp", ["tls", "udp"]),
        (NameserverList, "127.0.0.1:5353, ::1", ["127.0.0.1:5353", "[::1]"]),
        (PortRange, "1000-2000", "1000-2000"),
        (SIPProxyAddress, "proxy.example.com", "proxy.example.com;transport=udp"),
    ],
)
def test_value_to_json(type_: type, text: str, expected: Any) -> None:
    value = value_to_json(type_, value_from_string(type_, text))
    assert value == expected and type(value) is type(expected)
    assert value_to_json(type_, None) is None
