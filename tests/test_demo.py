"""`sipsimple demo` (what scripts/demo runs) as a user runs it: services under supervisord."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from harness.cli import run_console_script

pytestmark = pytest.mark.integration


def sipsimple(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_console_script(*args, timeout=timeout, stdin=subprocess.DEVNULL)


def test_demo_calls_with_audio_chats_sends_a_file_and_prints_a_summary(runtime: Path) -> None:
    try:
        done = sipsimple("demo")
    finally:
        sipsimple("services", "stop", timeout=60)
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    for text in ("SIPApplicationDidStart", "[alice] SIPSessionDidStart",
                 "[bob] SIPSessionDidStart", "[bob] AudioStreamGotDTMF: digit=2",
                 "[alice] AudioStreamGotDTMF: digit=5", "originator=remote, on_hold=True",
                 "originator=remote, on_hold=False", "[alice] SIPSessionDidEnd",
                 "alice starts a chat with bob",
                 "[bob] ChatStreamGotMessage: from=sip:alice@demo.invalid, "
                 "content_type=text/plain, text='Hi bob, did you hear the tone?'",
                 "[alice] ChatStreamGotMessage: from=sip:bob@demo.invalid, "
                 "content_type=text/plain, text='Loud and clear, alice!'",
                 "alice ends the chat:",
                 "SIPApplicationDidEnd", "Summary:", "packets lost"):
        assert text in output, output
    found = re.search(r"found in bob's recording: (\d+) Hz at (-?[\d.]+) dBFS", output)
    assert found, output
    assert abs(int(found.group(1)) - 1000) <= 20
    assert re.search(r"packets sent during one second on hold: alice 0, bob 0", output)
    assert re.search(r"codec +opus/48000 Hz +opus/48000 Hz", output)
    # both chat messages delivered, each side's report printed
    assert output.count("ChatStreamDidDeliverMessage") == 2, output
    assert "[alice] ChatStreamDidDeliverMessage" in output
    assert "[bob] ChatStreamDidDeliverMessage" in output
    assert re.search(r"chat messages delivered: alice \d+ ms, bob \d+ ms", output)
    assert "ChatStreamDidNotDeliverMessage" not in output
    assert re.search(r"SRTP +yes +yes", output)
    # the file: saved by bob, delivered for alice, size and hash checked
    assert "alice sends bob a file (demo-file.bin, 5000000 random bytes" in output
    assert "[bob] FileTransferStreamDidFinish: error=None, file_path=" in output
    assert "[alice] FileTransferStreamDidFinish: error=None" in output
    assert re.search(r"file transfer: demo-file.bin, 5000000 bytes saved to \S+demo-file.bin "
                     r"in [\d.]+ s \(session set-up included\), SHA-1 ok", output), output
