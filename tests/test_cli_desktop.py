"""`sipsimple share-desktop`, `view-desktop` and desktop sharing in `receive`, as processes.

A real desktop (Xvfb with a known picture, tests/harness/desktop.py): bob's
`receive --auto --share-display :N` lets alice's `view-desktop --viewer
"vncdo ... capture"` see it (the screenshot is the picture); alice's
`share-desktop --display :N` shows it to bob's `receive --auto --viewer ...`.
A receive that shares nothing refuses to be seen (488). Missing x11vnc,
a missing display and no display at all are clear errors.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services
from harness.cli import Agent, Output, end_agent, make_config, sipsimple, wait_claimed
from harness.desktop import needs_desktop, vncdo, xdisplay
from PIL import Image

from sipsimple.bus.client import get_bus

pytestmark = pytest.mark.integration


@pytest.fixture
def config_dir(tmp_path: Path, spawn_service: Callable[..., Any]) -> Path:
    audio_services(spawn_service, msrp=True)  # SIPApplication wants all four
    return make_config(tmp_path / "config", "alice", "bob")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sipsimple(*args), capture_output=True, text=True, timeout=120,
                          env=env, stdin=subprocess.DEVNULL)


def test_share_desktop_without_x11vnc(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    result = run("share-desktop", "sip:bob@127.0.0.1", "--display", ":5",
                 env={**os.environ, "PATH": str(bare)})
    assert result.returncode == 1
    assert "x11vnc is not installed (Debian package x11vnc)" in result.stderr
    assert "--vnc HOST:PORT" in result.stderr


def test_share_desktop_without_a_display() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = run("share-desktop", "sip:bob@127.0.0.1", env=env)
    assert result.returncode == 1
    assert "no X display to share: give --display :N" in result.stderr
    result = run("share-desktop", "sip:bob@127.0.0.1", "--display", "nonsense", env=env)
    assert "'nonsense' is not an X display" in result.stderr
    result = run("share-desktop", "sip:bob@127.0.0.1", "--display", ":1", "--vnc", "h:1")
    assert result.returncode == 2 and "exclude each other" in result.stderr


@needs_desktop
def test_share_desktop_with_a_display_that_is_not_there() -> None:
    result = run("share-desktop", "sip:bob@127.0.0.1", "--display", ":97")
    assert result.returncode == 1
    assert "x11vnc cannot share display :97" in result.stderr


@pytest.fixture
def desktop() -> Iterator[Any]:
    with xdisplay(200, 150) as shown:
        yield shown


def receiving(config_dir: Path, *args: str) -> Any:
    process = subprocess.Popen(
        sipsimple("receive", "--auto", "--account", "bob@127.0.0.1", *args,
                  "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    bob = Agent(process, Output(process.stdout), None)
    try:
        wait_claimed("sip:bob@127.0.0.1", process)
        bob.output.expect("waiting for messages and chats to bob@127.0.0.1")
    except BaseException:
        end_agent(process, None)
        raise
    return bob


def same_picture(shot: Path, desktop: Any) -> bool:
    """The screenshot is the picture, but where x11vnc drew the cursor: the CLI's x11vnc
    draws it for a viewer that cannot take its shape (vncdotool), a box at the pointer."""
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    assert (width, height) == (desktop.width, desktop.height)
    px, py = desktop.pointer()
    got, want = image.tobytes(), desktop.rgb
    for y in range(height):
        row = slice(y * width * 3, (y + 1) * width * 3)
        if py - 2 <= y < py + 32:
            left, right = max(0, px - 2) * 3, min(width, px + 32) * 3
            a, b = got[row], want[row]
            if a[:left] != b[:left] or a[right:] != b[right:]:
                return False
        elif got[row] != want[row]:
            return False
    return True


def bob_uri() -> str:
    port = get_bus().call("signalling", "get_transports")["udp"]
    return f"sip:bob@127.0.0.1:{port}"


@needs_desktop
def test_view_the_desktop_receive_shares(config_dir: Path, desktop: Any,
                                         tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    bob = receiving(config_dir, "--share-display", desktop.name)
    try:
        bob.output.expect(f"x11vnc serves display {desktop.name}")
        viewer = f"{shlex.quote(str(vncdo()))} -s {{host}}::{{port}} capture {shot}"
        alice = run("view-desktop", bob_uri(), "--viewer", viewer, "--account",
                    "alice@127.0.0.1", "--config-dir", str(config_dir))
        assert alice.returncode == 0, alice.stdout + alice.stderr
        assert "asking to see the desktop of sip:bob@127.0.0.1" in alice.stdout
        assert "started the viewer:" in alice.stdout
        assert "VNC viewer connected (127.0.0.1:" in alice.stdout
        assert "the VNC viewer closed: hanging up" in alice.stdout
        assert same_picture(shot, desktop)
        bob.output.expect("<sip:alice@127.0.0.1> asks to see this desktop")
        bob.output.expect("VNC server connected (127.0.0.1:")
        bob.output.expect("waiting for messages and chats")
    finally:
        end_agent(bob.process, None)


@needs_desktop
def test_share_a_display_with_receive(config_dir: Path, desktop: Any, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    viewer = f"{shlex.quote(str(vncdo()))} -s {{host}}::{{port}} capture {shot}"
    bob = receiving(config_dir, "--viewer", viewer)
    try:
        alice = run("share-desktop", bob_uri(), "--display", desktop.name, "--account",
                    "alice@127.0.0.1", "--config-dir", str(config_dir))
        assert "sharing the desktop with sip:bob@127.0.0.1" in alice.stdout, alice.stdout
        assert f"x11vnc serves display {desktop.name}" in alice.stdout
        assert "VNC server connected" in alice.stdout
        # bob's viewer took its screenshot and closed: bob hung up
        assert alice.returncode == 0, alice.stdout + alice.stderr
        bob.output.expect("<sip:alice@127.0.0.1> offers to show their desktop")
        bob.output.expect("the VNC viewer closed: hanging up")
        assert same_picture(shot, desktop)
    finally:
        end_agent(bob.process, None)


def test_receive_shares_nothing_unless_told(config_dir: Path) -> None:
    bob = receiving(config_dir)
    try:
        alice = run("view-desktop", bob_uri(), "--account", "alice@127.0.0.1",
                    "--config-dir", str(config_dir))
        assert alice.returncode == 1
        assert "488" in alice.stdout, alice.stdout
        bob.output.expect("it asks to see this desktop, and receive shares none "
                          "(--share-display or --share-vnc): 488 Not Acceptable Here")
        assert not get_bus().call("msrp", "status")["splice_listeners"]
    finally:
        end_agent(bob.process, None)


@needs_desktop
def test_view_desktop_prints_where_a_viewer_connects(config_dir: Path, desktop: Any,
                                                     tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    bob = receiving(config_dir, "--share-display", desktop.name)
    process = subprocess.Popen(
        sipsimple("view-desktop", bob_uri(), "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    alice = Output(process.stdout)
    try:
        alice.expect("connect a VNC viewer to 127.0.0.1:")
        found = re.search(r"connect a VNC viewer to 127\.0\.0\.1:(\d+) \(e\.g\. vncviewer "
                          r"127\.0\.0\.1::\1\) within 60 s", alice.text)
        assert found, alice.text
        viewer = subprocess.run([str(vncdo()), "-s", f"127.0.0.1::{found.group(1)}",
                                 "capture", str(shot)], capture_output=True, text=True,
                                timeout=120)
        assert viewer.returncode == 0, viewer.stdout + viewer.stderr
        assert same_picture(shot, desktop)
        assert process.wait(60) == 0
        alice.expect("the VNC viewer closed: hanging up")
    finally:
        end_agent(process, None)
        end_agent(bob.process, None)
