"""The peer gate (tests/harness/peers.py): a missing peer skips locally and fails in CI."""

from __future__ import annotations

import pytest

REQUIRE = "SIPSIMPLE_REQUIRE_PEERS=1"

GATED = '''
import pytest
from harness import peers


@peers.needs("sipp (Debian package sip-tester)", False)
def test_marked() -> None:
    pass


@pytest.fixture
def dnsmasq() -> None:
    peers.skip("dnsmasq (Debian package dnsmasq-base)")


def test_fixture(dnsmasq: None) -> None:
    pass


def test_other_skip() -> None:
    pytest.skip("not about a peer")


def test_runs() -> None:
    pass
'''

MODULE_SKIP = '''
import pytest
from harness import peers

pytest.skip(peers.reason("baresip (Debian package baresip)"), allow_module_level=True)


def test_never_collected() -> None:
    pass
'''


@pytest.fixture
def gated(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_gated=GATED, test_module_skip=MODULE_SKIP)
    return pytester


def test_a_missing_peer_skips_by_default(
    gated: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIPSIMPLE_REQUIRE_PEERS", raising=False)
    result = gated.runpytest("-p", "harness.peers", "-rs")
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(["*peer missing: sipp (Debian package sip-tester)*"])


def test_a_missing_peer_fails_and_is_named_when_peers_are_required(
    gated: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPSIMPLE_REQUIRE_PEERS", "1")
    result = gated.runpytest("-p", "harness.peers", "test_gated.py")
    # The gates run in setup (a mark, a fixture): errors, not passes.
    result.assert_outcomes(passed=1, skipped=1, errors=2)
    for peer in ("sipp (Debian package sip-tester)", "dnsmasq (Debian package dnsmasq-base)"):
        result.stdout.fnmatch_lines([f"*required peer missing ({REQUIRE}): {peer}*"])
    result = gated.runpytest("-p", "harness.peers", "test_module_skip.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*required peer missing ({REQUIRE}): baresip (Debian package baresip)*"]
    )


def test_zero_means_not_required(gated: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPSIMPLE_REQUIRE_PEERS", "0")
    gated.runpytest("-p", "harness.peers").assert_outcomes(passed=1, skipped=4)
