"""Candidate pairs and their state table (RFC 8445 6.1.2.6)."""

from __future__ import annotations

from sipsimple_services.media.ice.candidate import Candidate, CandidateType
from sipsimple_services.media.ice.checklist import (
    PAIR_TRANSITIONS,
    CandidatePair,
    LocalCandidate,
    PairState,
)

LOCAL = LocalCandidate(
    Candidate("1", 1, "udp", 2130706431, "192.0.2.1", 5000, CandidateType.HOST),
    ("192.0.2.1", 5000),
)
REMOTE = Candidate("2", 1, "udp", 1694498815, "203.0.113.2", 40000, CandidateType.SRFLX)


def test_a_pair_goes_frozen_waiting_in_progress_succeeded() -> None:
    pair = CandidatePair(LOCAL, REMOTE, 1)
    assert pair.state is PairState.FROZEN
    assert not pair.move("success")
    assert pair.move("unfreeze") and pair.state is PairState.WAITING
    assert pair.move("send") and pair.state is PairState.IN_PROGRESS
    assert pair.move("success") and pair.state is PairState.SUCCEEDED
    assert not pair.move("trigger") and pair.state is PairState.SUCCEEDED
    assert pair.component == 1 and pair.foundation == "1:2"


def test_a_failed_pair_is_checked_again_when_triggered() -> None:
    pair = CandidatePair(LOCAL, REMOTE, 1, PairState.IN_PROGRESS)
    assert pair.move("timeout") and pair.state is PairState.FAILED
    assert pair.move("trigger") and pair.state is PairState.WAITING


def test_a_role_conflict_puts_the_pair_back_to_waiting() -> None:
    pair = CandidatePair(LOCAL, REMOTE, 1, PairState.IN_PROGRESS)
    assert pair.move("role-conflict") and pair.state is PairState.WAITING


def test_only_a_failed_nomination_leaves_succeeded() -> None:
    # a valid pair whose nominating check went unanswered no longer works
    assert [k for k in PAIR_TRANSITIONS if k[0] is PairState.SUCCEEDED] == [
        (PairState.SUCCEEDED, "nomination-failed")
    ]
    pair = CandidatePair(LOCAL, REMOTE, 1, PairState.SUCCEEDED)
    assert not pair.move("timeout") and not pair.move("failure")
    assert pair.move("nomination-failed") and pair.state is PairState.FAILED
