"""`sipsimple conference host|join|add|remove` as processes, against real services.

The host runs a room for its account; alice joins it with `join`; carol adds
bob (an `answer --auto` agent) with `add` and removes him with `remove`. The
host prints every participant coming and going; alice prints the room's
participants from the conference event package as they change.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services
from harness.cli import Output, agent, end_agent, make_config, sipsimple, wait_claimed

from sipsimple.bus.client import get_bus

pytestmark = pytest.mark.integration


@pytest.fixture
def config_dir(tmp_path: Path, spawn_service: Callable[..., Any]) -> Path:
    audio_services(spawn_service, msrp=True)  # SIPApplication wants all four
    return make_config(tmp_path / "config", "host", "alice", "bob", "carol")


def start(config_dir: Path, *args: str) -> tuple[subprocess.Popen[bytes], Output]:
    process = subprocess.Popen(
        sipsimple(*args, "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, Output(process.stdout)


@pytest.fixture
def hosting(config_dir: Path) -> Iterator[Output]:
    process, output = start(config_dir, "conference", "host", "room",
                            "--account", "host@127.0.0.1", "--subject", "planning")
    try:
        wait_claimed("sip:room@127.0.0.1", process)
        output.expect("hosting sip:room@127.0.0.1")
        yield output
    finally:
        end_agent(process, None)


def run(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sipsimple(*args, "--config-dir", str(config_dir)),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_host_join_add_and_remove(config_dir: Path, hosting: Output) -> None:
    port = get_bus().call("signalling", "get_transports")["udp"]
    room = f"sip:room@127.0.0.1:{port}"
    alice, alice_output = start(config_dir, "conference", "join", room,
                                "--account", "alice@127.0.0.1")
    try:
        hosting.expect("joined: <sip:alice@127.0.0.1> (dialed-in, audio sendrecv)")
        alice_output.expect("participants (1): <sip:alice@127.0.0.1>")
        with agent(config_dir, "--auto", "--account", "bob@127.0.0.1") as bob:
            added = run(config_dir, "conference", "add", room, f"sip:bob@127.0.0.1:{port}",
                        "--account", "carol@127.0.0.1")
            assert added.returncode == 0, added.stdout + added.stderr
            for line in ("adding sip:bob@127.0.0.1", ": 100 ", "added sip:bob@127.0.0.1"):
                assert line in added.stdout, added.stdout
            hosting.expect("joined: <sip:bob@127.0.0.1> (dialed-out, audio sendrecv)")
            bob.output.expect("connected")
            alice_output.expect("<sip:bob@127.0.0.1>")

            removed = run(config_dir, "conference", "remove", room, "sip:bob@127.0.0.1",
                          "--account", "carol@127.0.0.1")
            assert removed.returncode == 0, removed.stdout + removed.stderr
            assert "removed sip:bob@127.0.0.1" in removed.stdout, removed.stdout
            bob.output.expect("call ended by remote")
            hosting.expect("left: <sip:bob@127.0.0.1>")

            # nobody by that name in the room: the focus says so, and the command fails
            again = run(config_dir, "conference", "remove", room, "sip:bob@127.0.0.1",
                        "--account", "carol@127.0.0.1")
            assert again.returncode == 1, again.stdout + again.stderr
            assert "could not remove sip:bob@127.0.0.1: 404" in again.stdout, again.stdout
        hosting.expect("left: <sip:carol@127.0.0.1>")
        alice_output.forget()
        alice_output.expect("participants (1): <sip:alice@127.0.0.1>")
    finally:
        end_agent(alice, None)
    hosting.expect("left: <sip:alice@127.0.0.1>")


def test_join_a_room_that_is_no_focus_fails(config_dir: Path) -> None:
    port = get_bus().call("signalling", "get_transports")["udp"]
    with agent(config_dir, "--auto", "--account", "bob@127.0.0.1"):
        result = run(config_dir, "conference", "add", f"sip:bob@127.0.0.1:{port}",
                     "sip:carol@127.0.0.1", "--account", "alice@127.0.0.1")
    assert result.returncode == 1
    assert "is no conference focus" in result.stdout, result.stdout
