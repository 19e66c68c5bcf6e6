"""Fixtures that many integration test files share: the notification recorder and SIPp.

A test file that needs another shape (a recorder of its own, SIPp in a fixed
directory) defines its own fixture of the same name, which takes precedence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.notifications import Recorder
from harness.sipp import SIPp


@pytest.fixture
def events() -> Iterator[Recorder]:
    """Every notification posted during the test, with waits on them."""
    with Recorder() as recorder:
        yield recorder


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[SIPp]:
    """A SIPp runner working in the test's own directory; what it started is stopped."""
    runner = SIPp(tmp_path)
    yield runner
    runner.stop()
