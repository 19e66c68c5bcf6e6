"""Fixtures that many integration test files share: the notification recorder, SIPp,
a configuration home of the test's own; and the end of a SIPApplication.

A test file that needs another shape (a recorder of its own, SIPp in a fixed
directory) defines its own fixture of the same name, which takes precedence.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.notifications import Recorder
from harness.sipp import SIPp

if TYPE_CHECKING:
    from sipsimple.application import SIPApplication


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


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An XDG_CONFIG_HOME of the test's own, for the CLI and the services it starts."""
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("SIPSIMPLE_CONFIG_DIR", raising=False)
    return home


def stop_application(application: SIPApplication) -> None:
    """Stop `application` if it runs (until SIPApplicationDidEnd), then the services it
    started: what a fixture does after its test."""
    from sipsimple import supervision

    if application.state not in (None, "stopped"):
        with Recorder("SIPApplicationDidEnd") as recorder:
            application.stop()
            recorder.wait("SIPApplicationDidEnd")
    supervision.stop()
