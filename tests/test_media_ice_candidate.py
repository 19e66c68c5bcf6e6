"""Candidate priorities, foundations, pair priorities and fresh credentials."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core.sdp.ice import valid_pwd, valid_ufrag
from sipsimple_services.media.ice.candidate import (
    CandidateType,
    candidate_priority,
    foundation,
    new_credentials,
    pair_priority,
)


def test_priority_formula() -> None:
    # the values of RFC 8839's examples: host and srflx for component 1
    assert candidate_priority(CandidateType.HOST, 1) == 2130706431
    assert candidate_priority(CandidateType.SRFLX, 1) == 1694498815
    assert candidate_priority(CandidateType.RELAY, 1) == 16777215
    assert candidate_priority(CandidateType.HOST, 2) == 2130706430
    assert candidate_priority(CandidateType.PRFLX, 1, 0) == (110 << 24) + 255
    with pytest.raises(ValueError):
        candidate_priority(CandidateType.HOST, 0)
    with pytest.raises(ValueError):
        candidate_priority(CandidateType.HOST, 1, 70000)


def test_type_preferences_order_host_prflx_srflx_relay() -> None:
    order = [CandidateType.HOST, CandidateType.PRFLX, CandidateType.SRFLX, CandidateType.RELAY]
    priorities = [candidate_priority(kind, 1) for kind in order]
    assert priorities == sorted(priorities, reverse=True)


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))  # RFC 8445 5.1.2.1 range
def test_pair_priority(g: int, d: int) -> None:
    priority = pair_priority(g, d)
    assert priority == 2**32 * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)
    assert priority < 2**64
    if g != d:
        assert pair_priority(g, d) != pair_priority(d, g)


def test_foundations() -> None:
    host = foundation(CandidateType.HOST, "10.0.0.1")
    assert host == foundation(CandidateType.HOST, "10.0.0.1")
    assert host != foundation(CandidateType.HOST, "10.0.0.2")
    assert host != foundation(CandidateType.SRFLX, "10.0.0.1", "198.51.100.1")
    assert foundation(CandidateType.SRFLX, "10.0.0.1", "198.51.100.1") != foundation(
        CandidateType.SRFLX, "10.0.0.1", "198.51.100.2"
    )
    assert host.isdigit() and len(host) <= 32


def test_credentials_follow_rfc_8839_and_come_from_the_given_random() -> None:
    ufrag, pwd = new_credentials()
    assert valid_ufrag(ufrag) and valid_pwd(pwd)
    assert new_credentials(random.Random(1)) == new_credentials(random.Random(1))
    assert new_credentials() != new_credentials()
