"""`sipsimple message`, `receive` and `answer` as processes, against real services.

alice sends with `message` to bob, whose `receive` (or `answer`) prints what
came, with the sender and the times; the exit status says whether a 2xx came.
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
    return make_config(tmp_path / "config", "alice", "bob")


@pytest.fixture
def receiver(config_dir: Path) -> Iterator[Output]:
    process = subprocess.Popen(
        sipsimple("receive", "--account", "bob@127.0.0.1", "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output = Output(process.stdout)
    try:
        wait_claimed("sip:bob@127.0.0.1", process)
        output.expect("waiting for messages and chats to bob@127.0.0.1")
        yield output
    finally:
        end_agent(process, None)


def bob_uri(user: str = "bob") -> str:
    port = get_bus().call("signalling", "get_transports")["udp"]
    return f"sip:{user}@127.0.0.1:{port}"


def send(config_dir: Path, *args: str, stdin: bytes | None = None,
         account: str = "alice@127.0.0.1") -> subprocess.CompletedProcess[bytes]:
    command = sipsimple("message", "--account", account, *args,
                        "--config-dir", str(config_dir))
    return subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)


def test_message_and_receive(config_dir: Path, receiver: Output) -> None:
    sent = send(config_dir, bob_uri(), "hello bob")
    out = sent.stdout.decode()
    assert sent.returncode == 0, out + sent.stderr.decode()
    assert "delivered: 200 OK" in out
    # CPIM by default: the time it was sent is shown next to the time it came
    receiver.expect("message from <sip:alice@127.0.0.1> to bob@127.0.0.1, sent ")
    receiver.expect(": hello bob")

    # stdin, another type, no CPIM; control characters cannot reach the terminal
    sent = send(config_dir, bob_uri(), "--no-cpim", "--content-type", "text/plain;charset=utf-8",
                stdin=b"line one\x1b[31m\nline two\n")
    assert sent.returncode == 0, sent.stdout.decode() + sent.stderr.decode()
    receiver.expect("message from <sip:alice@127.0.0.1> to bob@127.0.0.1: line one\\x1b[31m")
    receiver.expect("  line two")
    assert ", sent" not in receiver.text.split("line one")[0].splitlines()[-1]


def test_sending_does_not_take_the_accounts_messages(config_dir: Path,
                                                     receiver: Output) -> None:
    """bob writes to himself: `receive` (holding bob) gets it, not the sending process."""
    sent = send(config_dir, bob_uri(), "note to self", account="bob@127.0.0.1")
    assert sent.returncode == 0, sent.stdout.decode() + sent.stderr.decode()
    receiver.expect("message from <sip:bob@127.0.0.1> to bob@127.0.0.1, sent ")
    receiver.expect(": note to self")
    sent = send(config_dir, bob_uri(), "")
    assert sent.returncode == 1 and b"nothing to send" in sent.stderr


def test_not_delivered_exits_1(config_dir: Path, receiver: Output) -> None:
    sent = send(config_dir, bob_uri("carol"), "anyone?")  # nobody holds carol: 480
    assert sent.returncode == 1
    assert "not delivered: 480 Temporarily Unavailable" in sent.stdout.decode()
    sent = send(config_dir, bob_uri(), "<x/>", "--content-type", "application/x-odd")
    assert sent.returncode == 1
    assert "not delivered: 415 Unsupported Media Type" in sent.stdout.decode()
    assert "message from" not in receiver.text


def test_answer_prints_messages(config_dir: Path) -> None:
    with agent(config_dir, "--account", "bob@127.0.0.1") as running:
        sent = send(config_dir, bob_uri(), "are you there?")
        assert sent.returncode == 0, sent.stdout.decode() + sent.stderr.decode()
        running.output.expect("message from <sip:alice@127.0.0.1> to bob@127.0.0.1, sent ")
        running.output.expect(": are you there?")
