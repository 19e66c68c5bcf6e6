"""`sipsimple answer` as a process, called by SIPp, against real services.

SIPp plays the callers whose calls our own `call` never makes: an INVITE
without SDP, a CANCEL racing the agent's accept, calls to users the agent
has no account for, an offer without audio. The agent prompts on a
pseudo-terminal where the test types as a user would. Where SIPp must wait
for the agent (to hang up once connected), the test sends it a "go": an
INFO with the call's Call-ID that the scenario waits for.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from harness.audio import audio_services, wait_until
from harness.cli import Agent, agent, make_config
from harness.sipp import SIPp, free_ports, needs_sipp, scenario

from sipsimple.bus.client import get_bus
from sipsimple.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service, msrp=True)  # SIPApplication wants all four


@pytest.fixture
def config_dir(tmp_path: Path, services: dict[str, Any]) -> Path:
    return make_config(tmp_path / "config", "alice", "bob")


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[SIPp]:
    runner = SIPp(tmp_path)
    yield runner
    runner.stop()


class Caller:
    """One SIPp scenario calling the agent's signalling service."""

    def __init__(self, sipp: SIPp, name: str, **replace: str) -> None:
        self.sipp = sipp
        self.port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        target = get_bus().call("signalling", "get_transports")["udp"]
        self.process = sipp.start(scenario(name, sipp.workdir, **replace),
                                  remote=f"127.0.0.1:{target}", port=self.port, timeout=40,
                                  service="bob")
        self.call_id = f"1-{self.process.pid}@127.0.0.1"  # SIPp's [call_id] of its first call

    def go(self) -> None:
        """Tell SIPp (waiting for an INFO in the call) to go on."""
        request = (
            f"INFO sip:sipp@127.0.0.1:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKgo{time.monotonic_ns()}\r\n"
            "From: <sip:test@127.0.0.1>;tag=go\r\nTo: <sip:sipp@127.0.0.1>\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: 1 INFO\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(request.encode(), ("127.0.0.1", self.port))

    def succeeded(self, timeout: float = 60) -> None:
        code = self.process.wait(timeout)
        stderr = self.process.stderr.read().decode(errors="replace")[-2000:] \
            if self.process.stderr else ""
        assert code == 0, f"sipp exit {code}\n{stderr}\n{self.sipp.errors()}"


def refused(sipp: SIPp, user: str, final: int, *, rings: bool = False,
            media: str = "audio [media_port] RTP/AVP 0") -> Caller:
    return Caller(sipp, "uac_refused.xml", USER=user, FINAL=str(final), MEDIA=media,
                  HOST="[remote_ip]:[remote_port]", RING_OPTIONAL="false" if rings else "true",
                  RINGS=str(rings))


def connected_and_ended(running: Agent, caller: Caller) -> None:
    """The call connects, SIPp goes on (a codec-locking re-INVITE, BYE) and it ends.

    The "audio: ..." line comes once: the re-INVITE changes nothing shown.
    """
    running.output.expect("connected")
    caller.go()
    caller.succeeded()
    running.output.expect("call ended by remote")
    assert running.output.text.count("audio: ") == 1, running.output.text


@needs_sipp
def test_auto_answers_an_invite_without_sdp_with_an_offer_in_the_200(
    config_dir: Path, sipp: SIPp,
) -> None:
    with agent(config_dir, "--auto", "--account", "bob@127.0.0.1") as running:
        caller = Caller(sipp, "cli_uac_nosdp.xml", USER="bob")
        connected_and_ended(running, caller)
        assert "refused" not in running.output.text


@needs_sipp
def test_a_call_rings_at_once_and_a_declined_prompt_answers_486(
    config_dir: Path, sipp: SIPp,
) -> None:
    with agent(config_dir, "--account", "bob@127.0.0.1", tty=True) as running:
        caller = refused(sipp, "bob", 486, rings=True)
        running.output.expect("answer?")
        running.type("n")
        caller.succeeded()
        running.output.expect("declined: 486 Busy Here")


@needs_sipp
def test_a_call_not_answered_in_time_gets_480(config_dir: Path, sipp: SIPp) -> None:
    with agent(config_dir, "--account", "bob@127.0.0.1", "--ring-timeout", "1",
               tty=True) as running:
        caller = refused(sipp, "bob", 480, rings=True)
        caller.succeeded()
        running.output.expect("not answered within 1 s: 480")


@needs_sipp
def test_the_prompt_answered_with_y_connects(config_dir: Path, sipp: SIPp) -> None:
    with agent(config_dir, "--account", "bob@127.0.0.1", tty=True) as running:
        caller = Caller(sipp, "cli_uac_call.xml", USER="bob")
        running.output.expect("answer?")
        running.type("y")
        running.output.expect("connected")
        refused(sipp, "bob", 486).succeeded()  # one call at a time
        running.output.expect("busy with another call (486)")
        connected_and_ended(running, caller)


@needs_sipp
def test_ctrl_c_in_a_call_hangs_up_and_stops(config_dir: Path, sipp: SIPp) -> None:
    """"until Ctrl-C": in a call too, where it hangs the call up first (it used to hang
    up and go on waiting for calls)."""
    with agent(config_dir, "--auto", "--account", "bob@127.0.0.1") as running:
        Caller(sipp, "cli_uac_call.xml", USER="bob")
        running.output.expect("connected")
        running.process.send_signal(signal.SIGINT)
        running.output.expect("hanging up")
        running.output.expect("call ended by local")
        assert running.process.wait(30) == 0


@needs_sipp
def test_calls_refused_before_the_agent_are_printed_with_the_reason(
    config_dir: Path, sipp: SIPp,
) -> None:
    with agent(config_dir, "--auto", "--account", "bob@127.0.0.1") as running:
        refused(sipp, "nobody", 480).succeeded()  # no account: the service's 480
        running.output.expect("refused call from")
        running.output.expect("to <sip:nobody@127.0.0.1")
        running.output.expect("480 Temporarily Unavailable (no account here takes calls for")
        refused(sipp, "bob", 488, media="video [media_port] RTP/AVP 31").succeeded()
        running.output.expect("488 Not Acceptable Here (no acceptable stream in the offer)")


@needs_sipp
def test_any_accepts_calls_to_any_user_at_its_address(config_dir: Path, sipp: SIPp) -> None:
    with agent(config_dir, "--auto", "--any", "--account", "bob@127.0.0.1") as running:
        running.output.expect("and any user at this address")
        assert {"aor": "sip:bob@127.0.0.1", "any_user": True}.items() <= next(
            a for a in get_bus().call("signalling", "status")["accounts"] if a["any_user"]
        ).items()
        caller = Caller(sipp, "cli_uac_call.xml", USER="someone")
        running.output.expect("incoming call from")
        connected_and_ended(running, caller)


@needs_sipp
def test_any_is_claimed_again_on_a_new_signalling_service(
    config_dir: Path, sipp: SIPp, services: dict[str, Any],
    spawn_service: Callable[..., Any],
) -> None:
    def any_user_claimed() -> bool:
        return any(a["any_user"] for a in get_bus().call("signalling", "status")["accounts"])

    with agent(config_dir, "--auto", "--any", "--account", "bob@127.0.0.1") as running:
        # a first call: the agent has settled before its service goes
        connected_and_ended(running, Caller(sipp, "cli_uac_call.xml", USER="someone"))
        running.output.forget()
        services["signalling"].kill()  # as in a crash: a new instance is a restart
        services["signalling"].wait(10)
        spawn_service("sipsimple_services.signalling", "signalling",
                      SIPSIMPLE_CLIENT_TIMEOUT="2", SIPSIMPLE_SIP_TRANSPORTS="udp")
        wait_until(any_user_claimed, "the agent never claimed any user again", timeout=30)
        connected_and_ended(running, Caller(sipp, "cli_uac_call.xml", USER="someone"))


@needs_sipp
def test_a_cancel_racing_the_accept_reads_cancelled_by_the_caller(
    config_dir: Path, sipp: SIPp,
) -> None:
    """SIPp CANCELs as soon as the agent rings, while --auto accepts (media starting)."""
    with agent(config_dir, "--auto", "--account", "bob@127.0.0.1") as running:
        caller = Caller(sipp, "uac_cancel.xml")
        caller.succeeded()
        running.output.expect("call cancelled by the caller")
        output = running.output.text
    assert "WARNING" not in output and "call failed" not in output, output


def test_play_file_missing_or_not_wav_is_one_error_line(tmp_path: Path) -> None:
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"not a RIFF file at all")
    for path, error in ((tmp_path / "missing.wav", "no such file"),
                        (noise, "not a WAV file")):
        result = CliRunner().invoke(cli, ["answer", "--play", str(path),
                                          "--config-dir", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and error in result.output, result.output
