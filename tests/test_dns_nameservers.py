"""sipsimple_services.dns.nameservers: parsing and the probe/fallback decisions."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.dns.nameservers import (
    Nameserver,
    NameserverManager,
    parse_nameserver,
    parse_nameservers,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", Nameserver("127.0.0.1", 53)),
        (" 127.0.0.1:5353 ", Nameserver("127.0.0.1", 5353)),
        ("::1", Nameserver("::1", 53)),
        ("[::1]:5353", Nameserver("::1", 5353)),
        ("[2001:db8::1]", Nameserver("2001:db8::1", 53)),
    ],
)
def test_parse(text: str, expected: Nameserver) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize(
    "text", ["", "dns.example.com", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
             "127.0.0.1:x", "[::1", "[::1]5353", "[127.0.0.1]:53x", "1.2.3.4.5"],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="nameserver"):
        parse_nameserver(text)


PORT = st.integers(1, 65535)


@given(st.ip_addresses(), PORT, st.booleans())
def test_parse_any_address_and_port(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, explicit: bool
) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    text = f"{host}:{port}" if explicit or port != 53 else str(address)
    parsed = parse_nameserver(text)
    assert parsed == Nameserver(str(address), port)
    assert parse_nameserver(str(parsed)) == parsed  # its text form reads back


@given(st.text(max_size=50) | st.from_regex(r"\[?[0-9a-f:.]{0,20}\]?(:[0-9x]{0,6})?",
                                            fullmatch=True))
def test_parse_any_text_gives_a_nameserver_or_value_error(text: str) -> None:
    try:
        parsed = parse_nameserver(text)
    except ValueError as exc:
        assert "nameserver" in str(exc)
        return
    assert ipaddress.ip_address(parsed.address) and 0 < parsed.port < 65536
    assert parse_nameserver(str(parsed)) == parsed


def test_parse_list_and_str() -> None:
    assert parse_nameservers("127.0.0.1:5353, [::1]:53,127.0.0.1:5353,") == (
        Nameserver("127.0.0.1", 5353), Nameserver("::1", 53),
    )
    assert parse_nameservers([]) == ()
    assert str(Nameserver("::1", 5353)) == "[::1]:5353"
    assert str(Nameserver("127.0.0.1")) == "127.0.0.1"
    with pytest.raises(ValueError):
        parse_nameservers([5])  # type: ignore[list-item]


LOCAL = (Nameserver("127.0.0.1", 5301), Nameserver("127.0.0.1", 5302))
FALLBACK = (Nameserver("127.0.0.2", 5303),)


class Checker:
    def __init__(self, working: set[Nameserver]) -> None:
        self.working = working
        self.calls: list[tuple[Nameserver, ...]] = []

    def __call__(self, servers: Sequence[Nameserver]) -> list[Nameserver]:
        self.calls.append(tuple(servers))
        return [s for s in servers if s in self.working]


def test_local_preferred_and_dead_ones_dropped() -> None:
    check = Checker({LOCAL[1], FALLBACK[0]})
    manager = NameserverManager(LOCAL, FALLBACK, check)
    assert manager.state.active == LOCAL and not manager.state.probed
    assert manager.probe() is True
    assert manager.state.active == (LOCAL[1],)
    assert manager.state.healthy and not manager.state.using_fallback
    assert check.calls == [LOCAL]  # fallback not even probed
    assert manager.probe() is False  # no change


def test_fallback_when_local_fails_and_back_again() -> None:
    check = Checker({FALLBACK[0]})
    manager = NameserverManager(LOCAL, FALLBACK, check)
    assert manager.probe() is True
    assert manager.state.active == FALLBACK and manager.state.using_fallback
    check.working = {LOCAL[0], LOCAL[1]}
    assert manager.probe() is True
    assert manager.state.active == LOCAL and not manager.state.using_fallback
    assert manager.state.as_dict()["nameservers"] == ["127.0.0.1:5301", "127.0.0.1:5302"]


def test_nothing_works_keeps_local() -> None:
    manager = NameserverManager(LOCAL, FALLBACK, Checker(set()))
    assert manager.probe() is False
    assert manager.state.active == LOCAL
    assert not manager.state.healthy and manager.state.probed


def test_configure_resets_and_stale_probe_is_ignored() -> None:
    manager = NameserverManager(LOCAL, FALLBACK, Checker(set()))

    def reconfiguring_check(servers: Sequence[Nameserver]) -> list[Nameserver]:
        manager.configure(FALLBACK)  # a set_nameservers arrives while probing
        return list(servers)

    manager.check = reconfiguring_check
    assert manager.probe() is False
    assert manager.state.active == FALLBACK and manager.state.configured == FALLBACK
    assert manager.state.fallback == FALLBACK  # None kept the old fallback list
    assert manager.configure(LOCAL, ()) is True
    assert manager.state.fallback == ()
    assert manager.configure(LOCAL) is False
