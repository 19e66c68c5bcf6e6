"""The CLI's shared output helpers: library log lines go to a file, not the terminal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipsimple.cli.output import LOG_FILE, LOG_HANDLER, configure_logging


@pytest.fixture
def root_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    monkeypatch.setenv("SIPSIMPLE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SIPSIMPLE_LOG_LEVEL", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for handler in [h for h in handlers if h.get_name() == LOG_HANDLER]:
        root.removeHandler(handler)
    yield root
    for handler in [h for h in root.handlers if h.get_name() == LOG_HANDLER]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def test_library_warnings_go_to_the_log_file_not_the_terminal(
    root_logger: logging.Logger, tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    configure_logging()  # a second command in the same process adds nothing
    assert [h.get_name() for h in root_logger.handlers].count(LOG_HANDLER) == 1
    logging.getLogger("sipsimple.session.base").warning("signalling accept failed")
    logging.getLogger("sipsimple.session.base").info("not at the default level")
    for handler in root_logger.handlers:
        handler.flush()
    written = (tmp_path / "state" / "logs" / LOG_FILE).read_text()
    assert "WARNING sipsimple.session.base: signalling accept failed" in written
    assert "not at the default level" not in written
    out, err = capfd.readouterr()
    assert "signalling accept failed" not in out + err
