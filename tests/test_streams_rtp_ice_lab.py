"""ICE calls across the NAT lab: host pairs in a LAN, srflx through the easy NAT, TURN (hard NAT).

Each end is a `LabStack` (our services and the CLI inside its namespace):
bob runs ``sipsimple answer --auto --play``, alice ``sipsimple call --play
--record --auto-hangup``; each plays a tone and records the other's, so the
audio is checked by tone both ways. The pair ICE chose is what each CLI
prints (``ICE: local (type) <-> remote (type)``, from
``AudioStreamICENegotiationDidSucceed``). SIP goes straight between the two
ends: routed between the LANs (`NatLab.open_sip_path`), or to a public host;
only the media has to cross the NATs.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from harness.audio import tone_file
from harness.cli import Output
from harness.netns import IP, NFT, STUN_PRIMARY, LabHost, LabStack, NatLab, needs_lab
from harness.turnserver import TURN_PASSWORD, TURN_USER

pytestmark = [pytest.mark.integration, needs_lab]

SIP_PORT = 5060
ALICE_TONE, BOB_TONE = 1000.0, 600.0
STUN = f"{STUN_PRIMARY[0]}:{STUN_PRIMARY[1]}"
ICE_LINE = re.compile(r"ICE: ([\d.]+):(\d+) \((\w+)\) <-> ([\d.]+):(\d+) \((\w+)\)")


def tone_share(path: Path, frequency: float, start: float = 0.5,
               stop: float | None = None) -> float:
    """The share of the recording's power within 20 Hz of `frequency`, from `start` to
    `stop` seconds (by default after start-up, to the end)."""
    with wave.open(str(path), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples.astype(np.float64)[::channels]
    samples = samples[int(rate * start):None if stop is None else int(rate * stop)]
    assert len(samples) > rate, f"{path} is too short"
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / rate)
    total = float(power.sum())
    return float(power[np.abs(frequencies - frequency) < 20].sum()) / total if total else 0.0


def settings(turn: bool = False, relay_only: bool = True) -> list[str]:
    """ICE with the lab's STUN server; with `turn`, its TURN relay (forced with `relay_only`)."""
    found = ["nat_traversal.use_ice=true", f"nat_traversal.stun_server_list={STUN}",
             "rtp.audio_codec_list=PCMU", "rtp.encryption.enabled=false"]
    if turn:
        found += [f"nat_traversal.turn_server={STUN}", f"nat_traversal.turn_username={TURN_USER}",
                  f"nat_traversal.turn_password={TURN_PASSWORD}",
                  f"nat_traversal.ice_relay_only={str(relay_only).lower()}"]
    return found


def end(lab: NatLab, host: LabHost, user: str, port: int, turn: bool = False,
        relay_only: bool = True, **env: str) -> LabStack:
    stack = lab.stack(host)
    aor = f"{user}@lab.test"
    stack.make_account(aor)
    done = stack.sipsimple("accounts", "set", aor, *settings(turn, relay_only))
    assert done.returncode == 0, done.stderr + done.stdout
    stack.start(SIPSIMPLE_SIP_UDP_PORT=str(port), SIPSIMPLE_SIP_TRANSPORTS="udp", **env)
    return stack


def chosen(output: str) -> tuple[str, str, str, str]:
    """(local address, local type, remote address, remote type) of the pair the CLI printed."""
    found = ICE_LINE.search(output)
    assert found, f"no ICE pair in: {output}"
    local, lport, ltype, remote, rport, rtype = found.groups()
    return f"{local}:{lport}", ltype, f"{remote}:{rport}", rtype


def call(lab: NatLab, tmp_path: Path, caller: LabStack, callee: LabStack, callee_port: int
         ) -> tuple[str, str]:
    """alice calls bob; both tones checked; the two CLIs' outputs."""
    alice_tone = tone_file(tmp_path / "alice-tone.wav", ALICE_TONE, 30.0, rate=8000,
                           amplitude=0.4)
    bob_tone = tone_file(tmp_path / "bob-tone.wav", BOB_TONE, 30.0, rate=8000, amplitude=0.4)
    recorded = tmp_path / "at-bob"
    answering = callee.popen("answer", "--auto", "--any", "--account", "bob@lab.test",
                             "--play", str(bob_tone), "--record", str(recorded),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    try:
        bob = Output(answering.stdout)
        bob.expect("waiting for calls", timeout=60)
        at_alice = tmp_path / "at-alice.wav"
        done = caller.sipsimple("call", f"sip:bob@{callee.host.address}:{callee_port}",
                                "--account", "alice@lab.test", "--play", str(alice_tone),
                                "--record", str(at_alice), "--auto-hangup", "4", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        bob.expect("call ended by remote", timeout=60)
    finally:
        if answering.poll() is None:
            answering.send_signal(signal.SIGINT)
            try:
                answering.wait(30)
            except subprocess.TimeoutExpired:
                answering.kill()
    recordings = list(recorded.glob("*.wav"))
    assert len(recordings) == 1, f"bob recorded {recordings}: {bob.text}"
    at_bob = recordings[0]
    assert tone_share(at_bob, ALICE_TONE) > 0.3, "alice's tone did not reach bob"
    assert tone_share(at_alice, BOB_TONE) > 0.3, "bob's tone did not reach alice"
    return done.stdout, bob.text


def test_host_pair_between_two_ends_in_one_lan(nat_lab: NatLab, tmp_path: Path) -> None:
    host = nat_lab.hosts["easy"]
    caller = end(nat_lab, host, "alice", SIP_PORT)
    callee = end(nat_lab, host, "bob", SIP_PORT + 2)
    alice, bob = call(nat_lab, tmp_path, caller, callee, SIP_PORT + 2)
    local, ltype, remote, rtype = chosen(alice)
    assert (ltype, rtype) == ("host", "host"), alice
    assert local.startswith(f"{host.address}:") and remote.startswith(f"{host.address}:")
    assert chosen(bob)[1::2] == ("host", "host"), bob


def test_server_reflexive_pair_through_the_easy_nat(nat_lab: NatLab, tmp_path: Path) -> None:
    public = nat_lab.public  # a host without NAT (coturn's too)
    assert public is not None
    caller = end(nat_lab, nat_lab.hosts["easy"], "alice", SIP_PORT)
    callee = end(nat_lab, public, "bob", SIP_PORT)
    alice, bob = call(nat_lab, tmp_path, caller, callee, SIP_PORT)
    nat = nat_lab.nats["easy"].address
    # alice's check is answered with her NAT's mapping: her srflx candidate
    local, ltype, remote, rtype = chosen(alice)
    assert (ltype, rtype) == ("srflx", "host") and local.startswith(f"{nat}:"), alice
    assert remote.startswith(f"{public.address}:"), alice
    local, ltype, remote, rtype = chosen(bob)
    assert (ltype, rtype) == ("host", "srflx") and remote.startswith(f"{nat}:"), bob


def test_relayed_pair_through_turn_for_the_hard_nat(nat_lab: NatLab, tmp_path: Path) -> None:
    # Behind the hard NAT only a relay gets through; both ends offer relayed
    # candidates only (`ice_relay_only`): a pair of two relays on the lab's TURN
    # server, each end's allocation made through its own NAT.
    nat_lab.open_sip_path(SIP_PORT)
    caller = end(nat_lab, nat_lab.hosts["hard"], "alice", SIP_PORT, turn=True)
    callee = end(nat_lab, nat_lab.hosts["easy"], "bob", SIP_PORT, turn=True)
    alice, bob = call(nat_lab, tmp_path, caller, callee, SIP_PORT)
    relay = f"{STUN_PRIMARY[0]}:"
    for output in (alice, bob):
        local, ltype, remote, rtype = chosen(output)
        assert (ltype, rtype) == ("relay", "relay"), output
        assert local.startswith(relay) and remote.startswith(relay) and local != remote, output


def test_relayed_to_server_reflexive_pair_with_turn_on_the_hard_side_only(
        nat_lab: NatLab, tmp_path: Path) -> None:
    # TURN on the hard side only (relayed, host and srflx candidates), STUN only
    # on the easy side: the one pair through both NATs is alice's relay to bob's
    # server-reflexive address (the easy NAT keeps bob's port for every peer).
    nat_lab.open_sip_path(SIP_PORT)
    caller = end(nat_lab, nat_lab.hosts["hard"], "alice", SIP_PORT, turn=True, relay_only=False)
    callee = end(nat_lab, nat_lab.hosts["easy"], "bob", SIP_PORT)
    alice, bob = call(nat_lab, tmp_path, caller, callee, SIP_PORT)
    nat, relay = nat_lab.nats["easy"].address, f"{STUN_PRIMARY[0]}:"
    local, ltype, remote, rtype = chosen(alice)
    assert (ltype, rtype) == ("relay", "srflx"), alice
    assert local.startswith(relay) and remote.startswith(f"{nat}:"), alice
    local, ltype, remote, rtype = chosen(bob)
    assert (ltype, rtype) == ("srflx", "relay") and local.startswith(f"{nat}:"), bob
    assert remote.startswith(relay), bob


def test_ice_that_cannot_succeed_gives_up_in_time_and_the_call_goes_on_plainly(
        nat_lab: NatLab, tmp_path: Path) -> None:
    # A firewall at the easy NAT drops every STUN answer but the STUN server's: the
    # checks get through both ways, their answers never do, so no pair can succeed
    # while the peer's checks keep triggering new ones (RFC 8445 7.3.1.4). ICE gives
    # up within its check timeout, well inside the session's 15 s for the streams
    # to start, and the audio goes to the SDP addresses (alice's default candidate,
    # her mapping on the easy NAT, and bob's public host), which do route.
    public = nat_lab.public
    assert public is not None
    nat_lab.nats["easy"].run(NFT, "-f", "-", input=(
        "insert rule ip lab forward udp sport != 3478 @th,64,16 0x0101 drop\n"))
    caller = end(nat_lab, nat_lab.hosts["easy"], "alice", SIP_PORT)
    callee = end(nat_lab, public, "bob", SIP_PORT)
    alice, bob = call(nat_lab, tmp_path, caller, callee, SIP_PORT)
    for output in (alice, bob):
        assert "ICE failed (no working pair for component 1 within 10 s): plain RTP" in output, \
            output
        assert not ICE_LINE.search(output), output


def recorded_seconds(path: Path) -> float:
    """How much a recording in progress holds: its size after a 44-byte header, at the
    format its header gives (checked against the finished file by `seconds_of`)."""
    with wave.open(str(path), "rb") as source:
        rate, width = source.getframerate(), source.getsampwidth() * source.getnchannels()
    return max(0, path.stat().st_size - 44) / (width * rate)


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as source:
        return source.getnframes() / source.getframerate()


def wait_recorded(path: Path, seconds: float, timeout: float = 60) -> None:
    """Until the recording holds `seconds` of audio (the media clock's, not a sleep's)."""
    deadline = time.monotonic() + timeout
    while path.stat().st_size <= 44 if path.exists() else True:
        assert time.monotonic() < deadline, f"{path} has no header yet"
        time.sleep(0.1)
    while recorded_seconds(path) < seconds:
        assert time.monotonic() < deadline, f"{path} did not reach {seconds} s"
        time.sleep(0.1)


def test_a_new_lan_address_mid_call_moves_the_media_and_restarts_ice(
        nat_lab: NatLab, tmp_path: Path) -> None:
    """Alice's LAN address is replaced mid-call (10.1.0.2 gone, 10.1.0.3 and a new
    default route): her facade notices (NetworkConditionsDidChange), her media moves to
    new sockets on the new address, gathers again and her re-INVITE restarts ICE; the
    tones go both ways before and after, and the new pair is reported. That re-INVITE
    is a target refresh too (its Contact on 10.1.0.3): bob's BYE reaches her there
    and her call ends by remote."""
    public = nat_lab.public
    assert public is not None
    nat_lab.open_public_sip_path(SIP_PORT)  # bob's requests go to alice's Contact
    host = nat_lab.hosts["easy"]
    # SIP from whatever address the host has (the Via follows the route): the old one goes
    caller = end(nat_lab, host, "alice", SIP_PORT, SIPSIMPLE_SIP_HOST="0.0.0.0")
    callee = end(nat_lab, public, "bob", SIP_PORT)
    alice_tone = tone_file(tmp_path / "alice-tone.wav", ALICE_TONE, 120.0, rate=8000,
                           amplitude=0.4)
    bob_tone = tone_file(tmp_path / "bob-tone.wav", BOB_TONE, 120.0, rate=8000, amplitude=0.4)
    recorded, at_alice = tmp_path / "at-bob", tmp_path / "at-alice.wav"
    answering = callee.popen("answer", "--auto", "--any", "--account", "bob@lab.test",
                             "--play", str(bob_tone), "--record", str(recorded),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    calling: subprocess.Popen[bytes] | None = None
    try:
        bob = Output(answering.stdout)
        bob.expect("waiting for calls", timeout=60)
        calling = caller.popen("call", f"sip:bob@{public.address}:{SIP_PORT}",
                               "--account", "alice@lab.test", "--play", str(alice_tone),
                               "--record", str(at_alice), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        alice = Output(calling.stdout)
        alice.expect("ICE: ", timeout=60)
        bob.expect("ICE: ", timeout=60)
        wait_recorded(at_alice, 3)
        [at_bob] = list(recorded.glob("*.wav"))
        wait_recorded(at_bob, 3)
        changed_at = {at_alice: recorded_seconds(at_alice), at_bob: recorded_seconds(at_bob)}
        first_alice, first_bob = chosen(alice.text), chosen(bob.text)

        old, new = host.address, "10.1.0.3"
        host.run(IP, "addr", "del", f"{old}/24", "dev", "eth0")  # its routes go with it
        host.run(IP, "addr", "add", f"{new}/24", "dev", "eth0")
        host.run(IP, "route", "add", "default", "via", "10.1.0.1")
        alice.forget()
        bob.forget()
        alice.expect(f"audio: PCMU/8000 Hz, RTP (unencrypted), {new}:", timeout=60)
        alice.expect("ICE: ", timeout=60)
        bob.expect("ICE: ", timeout=60)
        moved_at = {at_alice: recorded_seconds(at_alice), at_bob: recorded_seconds(at_bob)}
        for path in (at_alice, at_bob):
            wait_recorded(path, moved_at[path] + 4)
        # bob hangs up: his BYE goes to the Contact of alice's re-INVITE, the old
        # address being gone (a BYE to it would time out after 32 s, alice never told)
        answering.send_signal(signal.SIGINT)
        alice.expect("call ended by remote", timeout=60)
        bob.expect("call ended by local", timeout=60)  # the BYE was answered
        assert calling.wait(60) == 0, alice.text
    finally:
        for process in (calling, answering):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    nat = nat_lab.nats["easy"].address
    # the new pair: alice's new socket behind the same NAT (a new mapping) to bob's host
    local, ltype, remote, rtype = chosen(alice.text)
    assert (ltype, rtype) == ("srflx", "host") and local.startswith(f"{nat}:"), alice.text
    assert local != first_alice[0] and remote == first_alice[2], alice.text
    local, ltype, remote, rtype = chosen(bob.text)
    assert (ltype, rtype) == ("host", "srflx") and remote.startswith(f"{nat}:"), bob.text
    assert remote == chosen(alice.text)[0] and remote != first_bob[2], bob.text
    for path, tone, who in ((at_bob, ALICE_TONE, "alice's tone at bob"),
                            (at_alice, BOB_TONE, "bob's tone at alice")):
        assert recorded_seconds(path) == pytest.approx(seconds_of(path), abs=0.1)
        assert tone_share(path, tone, 0.5, changed_at[path]) > 0.3, f"{who}, before"
        assert tone_share(path, tone, moved_at[path] + 0.5) > 0.3, f"{who}, after"
