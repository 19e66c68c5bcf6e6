"""`sipsimple chat` and `sipsimple receive --auto` as two processes, each on a pseudo-terminal.

bob runs `receive --auto`, alice `chat sip:bob@...`; both type as users do
(keys on a terminal, so is-composing goes too). Lines go both ways and each
side prints the other's messages and its own delivery marks, against the
real services (signalling, dns, msrp, media).
"""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services
from harness.cli import Agent, Output, end_agent, make_config, sipsimple, wait_claimed

from sipsimple.bus.client import get_bus
from sipsimple.cli.chat import describe_chat_message
from sipsimple.core import SIPURI
from sipsimple.payloads.cpim import CPIMIdentity, CPIMMessage
from sipsimple.streams.msrp import ChatMessage

pytestmark = pytest.mark.integration


@pytest.fixture
def config_dir(tmp_path: Path, spawn_service: Callable[..., Any]) -> Path:
    audio_services(spawn_service, msrp=True)  # SIPApplication wants all four
    return make_config(tmp_path / "config", "alice", "bob")


def test_describe_chat_message_escapes_control_characters() -> None:
    alice = CPIMIdentity(SIPURI.parse("sip:alice@example.com"), "Alice\x1b[2J")
    sent = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    lines = describe_chat_message(CPIMMessage("one\x1b[31m\ntwo", sender=alice, timestamp=sent))
    assert lines[0].startswith("Alice\\x1b[2J <sip:alice@example.com> (sent 2026-01-0")
    assert lines[0].endswith(": one\\x1b[31m") and lines[1] == "  two"
    plain = describe_chat_message(ChatMessage("hi", "text/plain", alice))
    assert plain == ["Alice\\x1b[2J <sip:alice@example.com>: hi"]
    assert describe_chat_message(ChatMessage(b"\x89PNG", "image/png", None)) == [
        "unknown sender: image/png, 4 bytes"]


@contextmanager
def on_terminal(*args: str, tty: bool = True) -> Iterator[Agent]:
    """`sipsimple ARGS` with stdin a pseudo-terminal (or closed); Ctrl-C after if still running."""
    controller = terminal = None
    if tty:
        controller, terminal = pty.openpty()
    process = subprocess.Popen(
        sipsimple(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=terminal if terminal is not None else subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if terminal is not None:
        os.close(terminal)
    try:
        yield Agent(process, Output(process.stdout), controller)
    finally:
        end_agent(process, controller)


@pytest.fixture
def bob(config_dir: Path) -> Iterator[Agent]:
    with on_terminal("receive", "--auto", "--account", "bob@127.0.0.1",
                     "--config-dir", str(config_dir)) as running:
        wait_claimed("sip:bob@127.0.0.1", running.process)
        running.output.expect("waiting for messages and chats to bob@127.0.0.1")
        yield running


def bob_uri() -> str:
    port = get_bus().call("signalling", "get_transports")["udp"]
    return f"sip:bob@127.0.0.1:{port}"


def test_chat_both_ways_with_composing_and_delivery_marks(config_dir: Path, bob: Agent) -> None:
    with on_terminal("chat", bob_uri(), "--account", "alice@127.0.0.1",
                     "--config-dir", str(config_dir)) as alice:
        alice.output.expect("chatting with sip:bob@127.0.0.1")
        bob.output.expect("incoming chat from")
        alice.output.expect("connected")
        alice.output.expect("type a line and Enter")

        alice.type("oops")
        bob.output.expect("<sip:alice@127.0.0.1> is typing")
        alice.type("\x7f" * 4)  # the line erased: idle
        bob.output.expect("<sip:alice@127.0.0.1> stopped typing")
        alice.type("hello b")
        bob.output.forget()
        bob.output.expect("is typing")
        alice.type("ob\r")
        bob.output.expect("<sip:alice@127.0.0.1> (sent ")
        bob.output.expect(": hello bob")
        alice.output.expect("delivered: 'hello bob'")

        bob.type("hi alice, héllo\r")
        alice.output.expect(": hi alice, héllo")
        bob.output.expect("delivered: 'hi alice, héllo'")

        port = get_bus().call("signalling", "get_transports")["udp"]
        paged = subprocess.run(  # a page-mode message reaches alice while she chats
            sipsimple("message", f"sip:alice@127.0.0.1:{port}", "paged", "--account",
                      "bob@127.0.0.1", "--config-dir", str(config_dir)),
            capture_output=True, timeout=90, check=False)
        assert paged.returncode == 0, paged.stdout + paged.stderr
        alice.output.expect("message from <sip:bob@127.0.0.1> to alice@127.0.0.1")

        alice.type("\x04")  # Ctrl-D on an empty line: hang up
        assert alice.process.wait(30) == 0, alice.output.text
        bob.output.expect("chat ended by remote")
        bob.output.expect("waiting for messages and chats")
    assert "not delivered" not in alice.output.text + bob.output.text


def test_piped_chat_waits_for_delivery_and_exits_0(config_dir: Path, bob: Agent) -> None:
    result = subprocess.run(
        sipsimple("chat", bob_uri(), "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        input=b"first line\nsecond line\n", capture_output=True, timeout=90, check=False)
    output = result.stdout.decode()
    assert result.returncode == 0, output + result.stderr.decode()
    assert "delivered: 'first line'" in output and "delivered: 'second line'" in output
    bob.output.expect(": second line")
    assert "is typing" not in bob.output.text  # no composing from a pipe


def test_chat_to_nobody_exits_1(config_dir: Path) -> None:
    result = subprocess.run(
        sipsimple("chat", bob_uri(), "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        input=b"lost\n", capture_output=True, timeout=90, check=False)
    output = result.stdout.decode()
    assert result.returncode == 1, output + result.stderr.decode()
    assert "chat failed: 480" in output  # nobody claims bob


def test_receive_refuses_an_audio_call(config_dir: Path, bob: Agent) -> None:
    result = subprocess.run(
        sipsimple("call", bob_uri(), "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        capture_output=True, timeout=90, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    bob.output.expect("no chat offered (only audio")


def test_receive_asks_and_a_message_too_large_is_not_delivered(config_dir: Path) -> None:
    with on_terminal("receive", "--account", "bob@127.0.0.1",
                     "--config-dir", str(config_dir)) as bob:
        wait_claimed("sip:bob@127.0.0.1", bob.process)
        bob.output.expect("waiting for messages and chats to bob@127.0.0.1")
        large = "x" * 1_000_000  # over the 960 KiB a received chat message may have: 413
        alice = subprocess.Popen(
            sipsimple("chat", bob_uri(), "--account", "alice@127.0.0.1",
                      "--config-dir", str(config_dir)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert alice.stdin is not None
            alice.stdin.write(f"small\n{large}\n".encode())  # queued until bob answers
            alice.stdin.close()  # the end of stdin waits for the outcomes before hanging up
            alice.stdin = None  # closed: communicate() must not flush it
            bob.output.expect("incoming chat from")
            bob.output.expect("answer? y or Enter answers")
            bob.type("y")
            out, err = alice.communicate(timeout=90)
        finally:
            if alice.poll() is None:
                alice.kill()
                alice.wait(5)
        output = out.decode()
        assert alice.returncode == 1, output + err.decode()
        assert "delivered: 'small'" in output
        assert "not delivered: 'xxxxxxxx" in output and ": 413 " in output, output
        bob.output.expect(": small")
