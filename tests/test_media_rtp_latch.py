"""SourceLatch: the learning window, consecutive packets, no move after learning, re-learning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.latch import (
    LEARNING_PACKETS,
    LEARNING_WINDOW,
    MAX_CANDIDATES,
    SourceLatch,
    Verdict,
    same_address,
)

SDP = ("192.0.2.7", 4000)
NAT = ("203.0.113.5", 31000)
OTHER = ("198.51.100.1", 9999)
T0 = 1_800_000_000.0


def test_defaults_and_arguments() -> None:
    assert LEARNING_WINDOW == 5.0 and LEARNING_PACKETS == 2
    with pytest.raises(ValueError):
        SourceLatch(packets=0)
    with pytest.raises(ValueError):
        SourceLatch(window=-1)
    assert same_address(("::1", 5, 0, 0), ("::1", 5))
    assert not same_address(None, SDP) and not same_address(SDP, ("192.0.2.7", 4001))


def test_learns_from_consecutive_packets_of_one_source_then_stays() -> None:
    latch = SourceLatch(packets=3)
    latch.open(T0, SDP)
    assert not latch.learned and latch.window_open(T0)
    assert latch.check(NAT, 1, 10, T0) is Verdict.LEARNING
    assert latch.check(NAT, 1, 11, T0) is Verdict.LEARNING
    assert latch.check(NAT, 1, 13, T0) is Verdict.LEARNING  # a gap: the run starts over
    assert latch.check(NAT, 2, 14, T0) is Verdict.LEARNING  # another SSRC: over again
    assert latch.check(NAT, 2, 15, T0) is Verdict.LEARNING
    assert latch.check(NAT, 2, 16, T0) is Verdict.LEARNED
    assert latch.address == NAT and not latch.window_open(T0)
    # Fixed: nothing else is accepted, however well it follows on.
    assert latch.check(SDP, 2, 17, T0 + 1) is Verdict.FOREIGN
    assert latch.check((NAT[0], NAT[1] + 1), 2, 17, T0 + 1) is Verdict.FOREIGN
    assert latch.check(NAT, 99, 1, T0 + 100) is Verdict.ACCEPT  # the SSRC rule is the session's


def test_runs_wrap_around_the_sequence_space() -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    assert latch.check(SDP, 1, 65535, T0) is Verdict.LEARNING
    assert latch.check(SDP, 1, 0, T0) is Verdict.LEARNED


def test_other_sources_only_within_the_window_the_sdp_address_any_time() -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    end = T0 + LEARNING_WINDOW
    assert latch.check(NAT, 1, 10, end - 0.01) is Verdict.LEARNING
    assert latch.check(NAT, 1, 11, end) is Verdict.FOREIGN  # the window closed
    assert latch.check(SDP, 1, 50, end + 60) is Verdict.LEARNING
    assert latch.check(SDP, 1, 51, end + 60.02) is Verdict.LEARNED


def test_many_strangers_do_not_break_the_peers_run() -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    assert latch.check(NAT, 1, 10, T0) is Verdict.LEARNING
    for n in range(MAX_CANDIDATES - 1):
        assert latch.check(("198.51.100.1", 1000 + n), 5, n * 7, T0) is Verdict.LEARNING
    assert latch.check(NAT, 1, 11, T0) is Verdict.LEARNED


def test_open_again_relearns_keeping_or_forgetting_the_old_address() -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    latch.check(NAT, 1, 1, T0)
    assert latch.check(NAT, 1, 2, T0) is Verdict.LEARNED
    # A new offer/answer with the same SDP address: the old source still counts.
    latch.open(T0 + 60, SDP, keep_previous=True)
    assert latch.previous == NAT and latch.address is None
    assert latch.check(NAT, 1, 3, T0 + 60) is Verdict.ACCEPT
    moved = (NAT[0], 42000)
    assert latch.check(moved, 1, 4, T0 + 60) is Verdict.LEARNING
    assert latch.check(moved, 1, 5, T0 + 60) is Verdict.LEARNED
    assert latch.previous is None
    assert latch.check(NAT, 1, 6, T0 + 60) is Verdict.FOREIGN
    # A new SDP address: the old source is nobody.
    latch.open(T0 + 120, OTHER)
    assert latch.previous is None
    assert latch.check(moved, 1, 6, T0 + 200) is Verdict.FOREIGN


packets = st.lists(
    st.tuples(
        st.sampled_from([SDP, NAT, OTHER, (NAT[0], 1)]),
        st.integers(1, 3),  # SSRC
        st.integers(0, 65535),
        st.floats(0, 10),
    ),
    max_size=60,
)


@given(packets, packets)
def test_once_learnt_the_address_never_moves_until_opened_again(
    before: list[tuple[tuple[str, int], int, int, float]],
    after: list[tuple[tuple[str, int], int, int, float]],
) -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    for source, ssrc, seq, dt in before:
        latch.check(source, ssrc, seq, T0 + dt)
    learnt = latch.address
    for source, ssrc, seq, dt in after:
        verdict = latch.check(source, ssrc, seq, T0 + dt)
        if learnt is not None:
            assert latch.address == learnt
            assert (verdict is Verdict.ACCEPT) == (source == learnt)
        elif verdict is Verdict.LEARNED:
            learnt = source
            assert dt < LEARNING_WINDOW or source == SDP
        else:
            assert verdict is not Verdict.ACCEPT


def test_pin_latches_at_once_and_nothing_else_is_learnt() -> None:
    latch = SourceLatch()
    latch.open(T0, SDP)
    latch.pin(T0, NAT)  # ICE proved NAT with an authenticated check
    assert latch.learned and latch.address == NAT and not latch.window_open(T0)
    assert latch.check(NAT, 1, 10, T0) is Verdict.ACCEPT
    assert latch.check(SDP, 2, 10, T0) is Verdict.FOREIGN
    assert latch.check(OTHER, 3, 10, T0) is Verdict.FOREIGN
    assert latch.check(OTHER, 3, 11, T0) is Verdict.FOREIGN
