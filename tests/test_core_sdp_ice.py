"""ICE's SDP attributes (RFC 8839): a=candidate, ufrag and pwd."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core.sdp.errors import SDPParseError
from sipsimple.core.sdp.ice import (
    Candidate,
    CandidateType,
    parse_candidate,
    valid_pwd,
    valid_ufrag,
)


def test_rfc8839_examples() -> None:
    host = parse_candidate("candidate:1 1 UDP 2130706431 203.0.113.141 8998 typ host")
    assert host == Candidate("1", 1, "udp", 2130706431, "203.0.113.141", 8998, CandidateType.HOST)
    srflx = parse_candidate(
        "a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998"
    )
    assert srflx.type is CandidateType.SRFLX
    assert (srflx.related_host, srflx.related_port) == ("10.0.1.1", 8998)
    assert (
        srflx.to_sdp() == "2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998"
    )


def test_extensions_and_ipv6() -> None:
    line = "4 2 UDP 16777214 2001:db8::7 50000 typ relay raddr 2001:db8::1 rport 9 generation 0"
    candidate = parse_candidate(line)
    assert candidate.component == 2
    assert candidate.extensions == (("generation", "0"),)
    assert candidate.to_sdp() == line


@pytest.mark.parametrize(
    "line",
    [
        "",
        "candidate:1 1 UDP 1 10.0.0.1 9 host",  # no "typ"
        "1 1 UDP 1 10.0.0.1 9 typ nat",  # unknown type
        "1 1 UDP 0 10.0.0.1 9 typ host",  # priority 0
        "1 1 UDP 99999999999 10.0.0.1 9 typ host",
        "1 1 UDP 1 10.0.0.1 70000 typ host",
        "1 0 UDP 1 10.0.0.1 9 typ host",
        "f_o 1 UDP 1 10.0.0.1 9 typ host",  # not ice-chars
        "1 1 UDP 1 10.0.0.1 9 typ srflx raddr 10.0.0.2",  # raddr without rport
        "1 1 UDP 1 10.0.0.1 9 typ host generation",
        "1 1 UDP 1 bad_host! 9 typ host",
        "1 1 UDP x 10.0.0.1 9 typ host",
    ],
)
def test_bad_candidates(line: str) -> None:
    with pytest.raises(SDPParseError):
        parse_candidate(line)


def test_ufrag_and_pwd() -> None:
    assert valid_ufrag("8hhY") and not valid_ufrag("abc") and not valid_ufrag("ab d")
    assert valid_pwd("asd88fgpdd777uzjYhagZg") and not valid_pwd("short")


ice_chars = st.text("abcXYZ019+/", min_size=1, max_size=32)
hosts = st.one_of(st.ip_addresses().map(str), st.just("abc.local"))


@given(
    foundation=ice_chars,
    component=st.integers(1, 256),
    priority=st.integers(1, 2**32 - 1),
    host=hosts,
    port=st.integers(0, 65535),
    kind=st.sampled_from(CandidateType),
    related=st.none() | st.tuples(hosts, st.integers(0, 65535)),
    extensions=st.lists(st.tuples(st.sampled_from(["generation", "network-id"]), ice_chars)),
)
def test_round_trip(
    foundation: str,
    component: int,
    priority: int,
    host: str,
    port: int,
    kind: CandidateType,
    related: tuple[str, int] | None,
    extensions: list[tuple[str, str]],
) -> None:
    candidate = Candidate(
        foundation,
        component,
        "udp",
        priority,
        host,
        port,
        kind,
        related[0] if related else None,
        related[1] if related else None,
        tuple(extensions),
    )
    assert parse_candidate(candidate.to_sdp()) == candidate
    assert parse_candidate("candidate:" + candidate.to_sdp()) == candidate


@given(st.text(max_size=120))
def test_any_text_parses_or_raises_the_sdp_error(text: str) -> None:
    with contextlib.suppress(SDPParseError):
        parse_candidate(text)
