"""`sipsimple send-file` and `sipsimple receive --dir --auto` as two processes (cli/files.py).

bob runs `receive --auto --dir D`, alice `send-file sip:bob@... FILE`: the
file arrives whole under D (bob prints where, the size and "SHA-1 ok"),
alice shows progress (a bar, or JSON lines with --json) and exits 0; a
transfer cut by Ctrl-C resumes when the file is sent again, against the real
services (signalling, dns, msrp, media).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import audio_services
from harness.cli import Agent, Output, end_agent, make_config, sipsimple, wait_claimed

from sipsimple.bus.client import get_bus
from sipsimple.cli.files import Progress, human_bytes, human_duration

LARGE = 200_000_000  # bytes: longer to send than the Ctrl-C that cuts it (else 4x that)


def test_progress_shows_bytes_rate_and_eta() -> None:
    progress = Progress(size=20_000_000, start=4_000_000)
    progress.update(4_000_000, 100.0)
    assert progress.rate is None and progress.eta is None
    assert progress.line().endswith("4.0 MB / 20.0 MB  --/s  ETA --")
    progress.update(12_000_000, 104.0)  # 8 MB in 4 s this run: 2 MB/s, 8 MB left
    assert progress.rate == 2_000_000 and progress.eta == 4.0
    assert progress.line() == ("[##############----------]  60%  12.0 MB / 20.0 MB  "
                               "2.0 MB/s  ETA 0:04")
    assert progress.as_json() == {"event": "progress", "transferred": 12_000_000,
                                  "size": 20_000_000, "rate": 2_000_000, "eta": 4.0}
    assert human_bytes(999) == "999 B" and human_bytes(1_500) == "1.5 kB"
    assert human_bytes(3_200_000_000) == "3.2 GB"
    assert human_duration(59.6) == "1:00" and human_duration(3_725) == "1:02:05"
    assert Progress(size=0).line().startswith("[" + "#" * 24 + "] 100%")


@pytest.fixture
def config_dir(tmp_path: Path, spawn_service: Callable[..., Any]) -> Path:
    audio_services(spawn_service, msrp=True)  # SIPApplication wants all four
    return make_config(tmp_path / "config", "alice", "bob")


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    return tmp_path / "received"


@pytest.fixture
def bob(config_dir: Path, downloads: Path) -> Iterator[Agent]:
    process = subprocess.Popen(
        sipsimple("receive", "--auto", "--dir", str(downloads), "--account", "bob@127.0.0.1",
                  "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    running = Agent(process, Output(process.stdout), None)
    try:
        wait_claimed("sip:bob@127.0.0.1", process)
        running.output.expect(f"files go to {downloads}")
        yield running
    finally:
        end_agent(process, None)


def bob_uri() -> str:
    port = get_bus().call("signalling", "get_transports")["udp"]
    return f"sip:bob@127.0.0.1:{port}"


def send(config_dir: Path, source: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        sipsimple("send-file", bob_uri(), str(source), "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir), *options),
        capture_output=True, timeout=180, check=False, stdin=subprocess.DEVNULL)


def records(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.decode().splitlines()]


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as file:
        while piece := file.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def test_a_file_is_saved_under_the_directory(config_dir: Path, bob: Agent, tmp_path: Path,
                                             downloads: Path) -> None:
    source = tmp_path / "photo.bin"
    data = os.urandom(3_000_000)
    source.write_bytes(data)
    result = send(config_dir, source, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = records(result.stdout)  # stdout is JSON only: status lines went to stderr
    assert found[-1] == {"event": "done", "size": len(data),
                         "sha1": hashlib.sha1(data).hexdigest(), "resumed_from": 0}
    progress = [r for r in found if r["event"] == "progress"]
    assert progress and progress[-1]["transferred"] == progress[-1]["size"] == len(data)
    assert all(set(r) == {"event", "transferred", "size", "rate", "eta"} for r in progress)
    assert "hashing" in result.stderr.decode()
    bob.output.expect("incoming file 'photo.bin' (3000000 bytes) from")
    bob.output.expect(f"saved {downloads / 'photo.bin'} (3000000 bytes, SHA-1 ok)")
    assert (downloads / "photo.bin").read_bytes() == data

    again = send(config_dir, source)  # without --json: a bar (here, on a pipe, lines)
    text = again.stdout.decode()
    assert again.returncode == 0, text + again.stderr.decode()
    assert f"[{'#' * 24}] 100%  3.0 MB / 3.0 MB" in text
    assert "delivered 3000000 bytes" in text
    bob.output.expect(f"saved {downloads / 'photo (1).bin'} (3000000 bytes, SHA-1 ok)")
    assert sorted(os.listdir(downloads)) == ["photo (1).bin", "photo.bin"]


@pytest.mark.timeout(600)  # up to three files to make, the last of 3.2 GB
def test_a_file_cut_short_resumes_when_sent_again(config_dir: Path, bob: Agent,
                                                  tmp_path: Path, downloads: Path) -> None:
    source = tmp_path / "big.bin"
    for size in (LARGE, 4 * LARGE, 16 * LARGE):
        with source.open("wb") as file:
            for _ in range(size // 1_000_000):
                file.write(os.urandom(1_000_000))
        alice = subprocess.Popen(
            sipsimple("send-file", bob_uri(), str(source), "--json", "--account",
                      "alice@127.0.0.1", "--config-dir", str(config_dir)),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            output = Output(alice.stdout)
            output.expect('"event": "progress"', timeout=120)
            alice.send_signal(signal.SIGINT)  # Ctrl-C mid-transfer
            cut = alice.wait(60) == 1
            if cut:
                output.expect('"event": "failed"')
        finally:
            end_agent(alice, None)
        # Bob's side decides: the Ctrl-C may come after the last byte left (a fast
        # machine), and then bob has the whole file even if alice's transfer failed
        saved = f"saved {downloads / 'big.bin'} ({size} bytes, SHA-1 ok)"
        if bob.output.expect_any(saved, "not received", timeout=60) == "not received":
            assert cut, "bob has not got the file, yet alice reported it sent"
            break
        bob.output.forget()  # the next size's transfer: its lines only
        (downloads / "big.bin").unlink()
    else:
        pytest.fail("even the largest file was sent whole before the Ctrl-C took effect")
    bob.output.expect("bytes kept: sending the same file again resumes it")
    assert not (downloads / "big.bin").exists()  # nothing under the final name

    result = send(config_dir, source, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    done = records(result.stdout)[-1]
    assert done["event"] == "done" and 0 < done["resumed_from"] < size
    assert done["sha1"] == sha1_of(source)
    bob.output.expect(f"resuming 'big.bin' ({size} bytes) from byte {done['resumed_from']}")
    bob.output.expect(f"saved {downloads / 'big.bin'} ({size} bytes, SHA-1 ok)")
    assert sha1_of(downloads / "big.bin") == done["sha1"]
    assert os.listdir(downloads) == ["big.bin"]


def test_a_file_nobody_takes_is_not_delivered(config_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "lost.bin"
    source.write_bytes(b"x" * 1000)
    result = send(config_dir, source, "--json")  # nobody claims bob: 480
    assert result.returncode == 1, result.stdout + result.stderr
    [failed] = records(result.stdout)
    assert failed["event"] == "failed" and failed["size"] == 1000
    assert failed["sha1"] == hashlib.sha1(b"x" * 1000).hexdigest()
    assert "file transfer failed: 480" in result.stderr.decode()
