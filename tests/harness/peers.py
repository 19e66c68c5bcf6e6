"""The real peers the integration tests drive, and what a missing one does.

Every peer gate skips through `needs()` or `skip()`, whose reason starts with
`PREFIX`. Locally such a skip stays a skip (a machine without Kamailio can
still run the rest); with SIPSIMPLE_REQUIRE_PEERS=1 (set by `.ci/run`) the
hooks below turn it into a failure that names the peer, so CI cannot stay
green while a whole class of tests silently vanishes.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import NoReturn

import pytest

REQUIRE_ENV = "SIPSIMPLE_REQUIRE_PEERS"
PREFIX = "peer missing: "


def reason(peer: str) -> str:
    """The skip reason for a missing `peer` (say which package provides it)."""
    return PREFIX + peer


def needs(peer: str, available: bool) -> pytest.MarkDecorator:
    """A mark that skips the test (or fails it, when peers are required) without `peer`."""
    return pytest.mark.skipif(not available, reason=reason(peer))


def skip(peer: str) -> NoReturn:
    """Skip the running test or fixture for lack of `peer`."""
    pytest.skip(reason(peer))


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _missing_peer(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The peer named by a skip report, or None for any other report."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    message = str(report.longrepr[2])
    index = message.find(PREFIX)
    return None if index < 0 else message[index + len(PREFIX):]


def _fail_if_required(report: pytest.TestReport | pytest.CollectReport) -> None:
    peer = _missing_peer(report)
    if peer is not None and required():
        report.outcome = "failed"
        report.longrepr = f"required peer missing ({REQUIRE_ENV}=1): {peer}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_if_required(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_if_required(report)  # a module-level skip for a missing peer
    return report
