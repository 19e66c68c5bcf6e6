"""The XDG base directories: configuration and state, for the CLI and the services."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sipsimple import directories, supervision
from sipsimple.bus import endpoints


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own, with no sipsimple or XDG variable set."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    for name in ("SIPSIMPLE_CONFIG_DIR", "SIPSIMPLE_STATE_DIR", "XDG_CONFIG_HOME",
                 "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_config_dir(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert directories.config_dir() == home / ".config" / "sipsimple"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/path")  # invalid per the spec: ignored
    assert directories.config_dir() == home / ".config" / "sipsimple"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert directories.config_dir() == tmp_path / "xdg" / "sipsimple"
    assert directories.config_file() == tmp_path / "xdg" / "sipsimple" / "config"
    monkeypatch.setenv("SIPSIMPLE_CONFIG_DIR", str(tmp_path / "mine"))
    assert directories.config_dir() == tmp_path / "mine"
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "mine").exists()  # not created


def test_state_dir(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert directories.state_home() == home / ".local" / "state" / "sipsimple"
    monkeypatch.setenv("XDG_STATE_HOME", "relative")
    assert directories.state_home() == home / ".local" / "state" / "sipsimple"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert endpoints.state_dir() == tmp_path / "state" / "sipsimple"
    assert (tmp_path / "state" / "sipsimple").stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("SIPSIMPLE_STATE_DIR", str(tmp_path / "mine"))
    assert directories.state_home() == tmp_path / "mine"


def test_the_services_read_the_configuration_of_the_starting_environment(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SIPSIMPLE_STATE_DIR", str(tmp_path / "state"))
    env = supervision.environment()
    assert env["SIPSIMPLE_CONFIG_DIR"] == str(tmp_path / "xdg" / "sipsimple")


def test_the_cli_follows_xdg_config_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable = shutil.which("sipsimple")
    assert executable, "the sipsimple console script is not installed"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    done = subprocess.run([executable, "config", "set", "sip.udp_port", "5070"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "udp_port = 5070" in (tmp_path / "xdg" / "sipsimple" / "config").read_text()
    assert not (home / ".config").exists()
    shown = subprocess.run([executable, "config", "show", "sip.udp_port"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "5070" in shown.stdout
    helped = subprocess.run([executable, "config", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert "XDG_CONFIG_HOME" in helped.stdout
