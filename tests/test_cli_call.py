"""`sipsimple call` and `sipsimple devices` as processes, against real services (and SIPp).

`answer --auto --echo` runs for bob in one process; `call` from alice's in
another plays a tone file, records the call, sends DTMF and hangs up on its
own. Bob's echo brings the tone back to alice's recording.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from harness.audio import audio_services, tone_file
from harness.cli import Output, end_agent, make_config, sipsimple
from harness.sipp import SIPp, needs_sipp, scenario

from sipsimple.bus.client import get_bus
from sipsimple.cli.call import describe_failure
from sipsimple.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> None:
    audio_services(spawn_service, msrp=True)  # SIPApplication wants all four


@pytest.fixture
def config_dir(tmp_path: Path, services: None) -> Path:
    return make_config(tmp_path / "config", "alice", "bob")


@pytest.fixture
def answering(config_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        sipsimple("answer", "--auto", "--echo", "--account", "bob@127.0.0.1",
                  "--record", str(tmp_path / "answered"), "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while "sip:bob@127.0.0.1" not in {c["aor"] for c in get_bus().call(
            "signalling", "status")["accounts"]}:
        assert process.poll() is None, process.communicate()[0]
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("bob was never claimed: " + process.communicate()[0])
        time.sleep(0.1)
    yield process
    end_agent(process, None)


def peak_frequency(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples.astype(np.float64)
    assert np.max(np.abs(samples)) > 2000, "silence"
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_call_with_play_record_dtmf_and_auto_hangup_against_answer_echo(
    config_dir: Path, answering: subprocess.Popen[str], tmp_path: Path,
) -> None:
    port = get_bus().call("signalling", "get_transports")["udp"]
    tone = tone_file(tmp_path / "tone.wav", 900, 5.0, rate=8000, amplitude=0.4)
    recording = tmp_path / "call.wav"
    result = subprocess.run(
        sipsimple("call", f"sip:bob@127.0.0.1:{port}", "--account", "alice@127.0.0.1",
                  "--play", str(tone), "--record", str(recording), "--dtmf", "4#",
                  "--auto-hangup", "3", "--config-dir", str(config_dir)),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "SIPSIMPLE_LOG_LEVEL": "INFO"},
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for line in ("calling sip:bob@127.0.0.1", "connected", "audio: opus/48000 Hz, SRTP",
                 "sent DTMF 4", "sent DTMF #", "hanging up (--auto-hangup)",
                 "call ended by local", "statistics: packets sent"):
        assert line in output, output
    assert output.count("audio: ") == 1, output  # not again when the first packets come
    assert abs(peak_frequency(recording) - 900) < 15  # bob's echo of alice's tone

    answering.send_signal(signal.SIGINT)
    answer_output = answering.communicate(timeout=60)[0]
    assert "incoming call from" in answer_output
    assert "received DTMF 4" in answer_output and "received DTMF #" in answer_output
    [recorded] = (tmp_path / "answered").glob("*alice@127.0.0.1*.wav")  # --record DIR
    assert abs(peak_frequency(recorded) - 900) < 15


def test_keys_control_the_call_on_a_terminal(
    config_dir: Path, answering: subprocess.Popen[str],
) -> None:
    """Keys typed on a terminal: hold, unhold, mute, a DTMF digit, recording, hang up.

    A digit while on hold cannot be sent: the call says so and goes on. Each
    key waits for the previous one's effect, on the caller's or bob's side.
    """
    port = get_bus().call("signalling", "get_transports")["udp"]
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        sipsimple("call", f"sip:bob@127.0.0.1:{port}", "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(terminal)
    caller, bob = Output(process.stdout), Output(answering.stdout)
    try:
        caller.expect("keys: h hangup")
        for key, side, shown in (
            (" ", caller, "on hold (local)"), (" ", bob, "on hold (remote)"),
            ("3", caller, "error: "),  # no DTMF while we hold
            (" ", caller, "off hold (local)"), (" ", bob, "off hold (remote)"),
            ("m", caller, "muted"), ("m", caller, "unmuted"),
            ("7", bob, "received DTMF 7"),
            ("r", caller, "recording to"), ("r", caller, "recording saved to"),
            ("h", caller, "call ended by local"),
        ):
            if key != " " or side is caller:  # one press, two sides to see it
                os.write(controller, key.encode())
            side.expect(shown)
        caller.expect("statistics:")
        assert process.wait(20) == 0
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    bob.expect("call ended by remote")


def test_call_to_nobody_fails_with_exit_code_1(config_dir: Path) -> None:
    port = get_bus().call("signalling", "get_transports")["udp"]
    result = subprocess.run(
        sipsimple("call", f"sip:nobody@127.0.0.1:{port}", "--account", "alice@127.0.0.1",
                  "--config-dir", str(config_dir)),
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "call failed" in result.stdout


def test_bad_dtmf_option_is_refused(config_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["call", "sip:bob@127.0.0.1", "--dtmf", "12x",
                                      "--config-dir", str(config_dir)])
    assert result.exit_code == 2
    assert "not DTMF digits: x" in result.output


def test_devices_lists_the_null_device(services: None) -> None:
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    assert "null" in result.output


def test_play_file_missing_or_not_wav_is_one_error_line(tmp_path: Path) -> None:
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"not a RIFF file at all")
    for path, error in ((tmp_path / "missing.wav", "no such file"),
                        (noise, "not a WAV file")):
        result = CliRunner().invoke(cli, ["call", "sip:bob@127.0.0.1", "--play", str(path),
                                          "--config-dir", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and error in result.output, result.output


@needs_sipp
def test_a_488_to_our_optional_srtp_offer_names_the_setting(
    config_dir: Path, tmp_path: Path,
) -> None:
    """A peer that requires RTP/SAVP refuses our RTP/AVP offer with crypto lines."""
    sipp = SIPp(tmp_path)
    try:
        peer, port = sipp.start_uas(scenario("cli_uas_488.xml", tmp_path), timeout=30)
        result = subprocess.run(
            sipsimple("call", f"sip:sipp@127.0.0.1:{port}", "--account", "alice@127.0.0.1",
                      "--config-dir", str(config_dir)),
            capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
        )
        assert peer.wait(30) == 0, sipp.errors()
    finally:
        sipp.stop()
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert "call failed: 488 Not Acceptable Here" in output, output
    assert "the peer refused our audio offer, RTP/AVP with optional SRTP" in output, output
    assert "one that requires SRTP wants RTP/SAVP" in output, output
    assert "rtp.encryption.key_negotiation=sdes_mandatory" in output, output


def _failed(code: int, reason: str | None, failure: str, originator: str = "remote") -> Any:
    return SimpleNamespace(code=code, reason=reason, failure_reason=failure,
                           originator=originator)


def _session(direction: str, enabled: bool = True, negotiation: str = "sdes_optional") -> Any:
    encryption = SimpleNamespace(enabled=enabled, key_negotiation=negotiation)
    account = SimpleNamespace(id="alice@example.com",
                              rtp=SimpleNamespace(encryption=encryption))
    return SimpleNamespace(direction=direction, account=account)


def test_failure_lines() -> None:
    cancelled = _failed(487, "Request Terminated", "Request Terminated")
    assert describe_failure(cancelled, _session("incoming")) == ["call cancelled by the caller"]
    assert describe_failure(cancelled, _session("outgoing")) == [
        "call failed: 487 Request Terminated"]
    assert describe_failure(_failed(0, None, "SIP core error: x", "local"),
                            _session("outgoing")) == ["call failed (SIP core error: x)"]
    refused = _failed(488, "Not Acceptable Here", "Not Acceptable Here")
    for enabled, negotiation, offered, change in (
        (True, "sdes_optional", "RTP/AVP with optional SRTP",
         "rtp.encryption.key_negotiation=sdes_mandatory"),
        (True, "sdes_mandatory", "RTP/SAVP (SRTP required)",
         "rtp.encryption.key_negotiation=sdes_optional"),
        (False, "sdes_optional", "RTP/AVP without SRTP",
         "rtp.encryption.enabled=true rtp.encryption.key_negotiation=sdes_mandatory"),
    ):
        first, hint = describe_failure(refused, _session("outgoing", enabled, negotiation))
        assert first == "call failed: 488 Not Acceptable Here"
        assert f"our audio offer, {offered}" in hint
        assert hint.endswith(f"`sipsimple accounts set alice@example.com {change}`")
    assert len(describe_failure(refused, _session("incoming"))) == 1  # we answered: no offer


def test_the_live_status_shows_the_pair_ice_chose() -> None:
    from sipsimple.cli.call import STATUS_LINES
    from sipsimple.notification import NotificationData
    from sipsimple.streams.rtp.ice import ICECandidate, ICECheck

    rtcp = ICECandidate("RTCP", "HOST", "10.0.0.1", 4001, 1, "")
    local = ICECandidate("RTP", "RELAY", "198.51.100.1", 50000, 2, "10.0.0.1")
    remote = ICECandidate("RTP", "SRFLX", "203.0.113.5", 6000, 3, "192.168.1.2")
    data = NotificationData(valid_pairs=[ICECheck(rtcp, rtcp, "SUCCEEDED", True),
                                         ICECheck(local, remote, "SUCCEEDED", True)])
    line = STATUS_LINES["AudioStreamICENegotiationDidSucceed"](data, None)
    assert line == "ICE: 198.51.100.1:50000 (relay) <-> 203.0.113.5:6000 (srflx)"
    failed = STATUS_LINES["AudioStreamICENegotiationDidFail"](
        NotificationData(reason="no working pair for component 1"), None)
    assert failed.startswith("ICE failed (no working pair for component 1)")
