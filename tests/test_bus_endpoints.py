"""Where the bus lives: private directories that follow no symlink, loopback-only TCP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipsimple.bus import endpoints


@pytest.fixture
def no_runtime_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The /tmp fallback, with tmp_path standing for /tmp."""
    monkeypatch.delenv(endpoints.RUNTIME_ENV, raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return tmp_path / f"sipsimple-{os.getuid()}"


def test_the_tmp_fallback_is_made_private(no_runtime_env: Path) -> None:
    assert endpoints.runtime_dir() == no_runtime_env
    assert (no_runtime_env.stat().st_mode & 0o777) == 0o700


def test_a_symlink_planted_in_tmp_is_refused(no_runtime_env: Path, tmp_path: Path) -> None:
    target = tmp_path / "theirs"
    target.mkdir(mode=0o700)
    no_runtime_env.symlink_to(target)
    with pytest.raises(endpoints.UnsafeDirectoryError, match="symbolic link"):
        endpoints.runtime_dir()
    assert not list(target.iterdir())


def test_a_symlinked_runtime_dir_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "real"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    monkeypatch.setenv(endpoints.RUNTIME_ENV, str(tmp_path / "link"))
    with pytest.raises(endpoints.UnsafeDirectoryError, match="symbolic link"):
        endpoints.runtime_dir()


def test_a_directory_of_another_user_is_refused(no_runtime_env: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory away")
    no_runtime_env.mkdir(mode=0o700)
    os.chown(no_runtime_env, 65534, 65534)
    with pytest.raises(endpoints.UnsafeDirectoryError, match="belongs to uid 65534"):
        endpoints.runtime_dir()


def test_a_file_in_its_place_is_refused(no_runtime_env: Path) -> None:
    no_runtime_env.write_text("")
    with pytest.raises(endpoints.UnsafeDirectoryError, match="not a usable directory"):
        endpoints.runtime_dir()


def test_loose_permissions_are_tightened(no_runtime_env: Path) -> None:
    no_runtime_env.mkdir(mode=0o755)
    os.chmod(no_runtime_env, 0o777)
    endpoints.runtime_dir()
    assert (no_runtime_env.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize(
    ("value", "endpoint"),
    [("7000", "tcp://127.0.0.1:7002"), ("127.0.0.2:7000", "tcp://127.0.0.2:7002"),
     ("localhost:7000", "tcp://127.0.0.1:7002")],
)
def test_tcp_on_loopback(monkeypatch: pytest.MonkeyPatch, value: str, endpoint: str) -> None:
    monkeypatch.setenv(endpoints.TCP_BASE_ENV, value)
    assert endpoints.command_endpoint("media") == endpoint
    assert endpoints.event_endpoint("media") == endpoint[:-1] + "3"


@pytest.mark.parametrize(
    ("value", "message"),
    [("0.0.0.0:7000", "loopback only"), ("10.1.2.3:7000", "loopback only"),
     ("::1", "expected"), ("127.0.0.1:x", "expected"), ("127.0.0.1:65535", "out of range")],
)
def test_tcp_elsewhere_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(endpoints.TCP_BASE_ENV, value)
    with pytest.raises(endpoints.BusConfigurationError, match=message):
        endpoints.command_endpoint("media")


# --- media workers ------------------------------------------------------------------------


def test_media_worker_names() -> None:
    assert [endpoints.media_worker_name(i) for i in range(3)] == ["media", "media-1", "media-2"]
    for index in (0, 1, 63):
        assert endpoints.media_worker_index(endpoints.media_worker_name(index)) == index
    for name in ("dns", "media-0", "media-01", "media-64", "media-", "media-x", "mediax-1"):
        assert endpoints.media_worker_index(name) is None, name
    with pytest.raises(endpoints.BusConfigurationError):
        endpoints.media_worker_name(64)


def test_media_workers_recorded_by_the_starter_win(
    monkeypatch: pytest.MonkeyPatch, runtime: Path
) -> None:
    monkeypatch.delenv(endpoints.MEDIA_WORKERS_ENV, raising=False)
    assert endpoints.media_workers() == ("media",)  # started by hand: one unless told
    assert endpoints.bus_services() == ("dns", "media", "msrp", "signalling")
    monkeypatch.setenv(endpoints.MEDIA_WORKERS_ENV, "3")
    assert endpoints.bus_services() == ("dns", "media", "media-1", "media-2", "msrp",
                                        "signalling")
    endpoints.record_media_workers(2)  # supervisord runs two: this client addresses two
    assert endpoints.media_workers() == ("media", "media-1")
    endpoints.forget_media_workers()
    assert endpoints.media_workers() == ("media", "media-1", "media-2")
    endpoints.forget_media_workers()  # nothing there: nothing happens


@pytest.mark.parametrize("value", ["0", "-1", "65", "two", ""])
def test_a_bad_media_worker_count_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(endpoints.MEDIA_WORKERS_ENV, value)
    if value == "":  # unset, in effect: one per core
        assert endpoints.wanted_media_workers() == min(os.cpu_count() or 1, 64)
        return
    with pytest.raises(endpoints.BusConfigurationError, match="media workers"):
        endpoints.wanted_media_workers()


def test_tcp_ports_of_media_workers_follow_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(endpoints.TCP_BASE_ENV, "7000")
    ports = [endpoints.command_endpoint(s) for s in ("dns", "media", "msrp", "signalling",
                                                     "media-1", "media-2")]
    assert ports == [f"tcp://127.0.0.1:{7000 + 2 * i}" for i in range(6)]
    assert endpoints.event_endpoint("media-1") == "tcp://127.0.0.1:7009"
    with pytest.raises(ValueError, match="unknown service"):
        endpoints.command_endpoint("media-64")
