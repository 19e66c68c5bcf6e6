"""Smoke tests of the pjsua2 peer (tests/harness/pjsua.py), alone and through Kamailio."""

from __future__ import annotations

import array
import math
import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from harness.kamailio import Kamailio
from harness.pjsua import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.integration, needs_pjsua2]

RATE = 16000
TONE_HZ = 1000.0


def write_tone(path: Path, seconds: float = 2.0, freq: float = TONE_HZ, rate: int = RATE) -> None:
    samples = array.array("h", (
        int(12000 * math.sin(2 * math.pi * freq * n / rate)) for n in range(int(seconds * rate))
    ))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def read_wav(path: Path) -> tuple[array.array[int], int]:
    with wave.open(str(path), "rb") as src:
        assert src.getsampwidth() == 2 and src.getnchannels() == 1
        samples = array.array("h", src.readframes(src.getnframes()))
        return samples, src.getframerate()


def rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


def goertzel_power(samples: array.array[int], rate: int, freq: float) -> float:
    """Relative power at one frequency (stdlib only; numpy not required)."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1) ** 2


def assert_tone(path: Path) -> None:
    samples, rate = read_wav(path)
    assert len(samples) > rate // 2, f"recording too short: {len(samples)} samples at {rate} Hz"
    # Skip the start: the first packets can be jitter-buffer silence.
    body = samples[len(samples) // 4:]
    level = rms(body)
    assert level > 500, f"recording is (nearly) silent: RMS {level:.0f}"
    tone = goertzel_power(body, rate, TONE_HZ)
    off = goertzel_power(body, rate, 2 * TONE_HZ + 300)
    assert tone > 20 * off, f"no {TONE_HZ:g} Hz tone: {tone:.3g} vs {off:.3g} off-tone"


def register(peer: PjsuaPeer, kamailio: Kamailio, user: str, transport: str) -> str:
    account, event = peer.register(kamailio.proxy_uri(transport), user, kamailio.password(user),
                                   domain=kamailio.domain)
    assert event is not None and event["code"] == 200, (event, kamailio.log(3000))
    return account


@pytest.mark.parametrize("caller_transport,callee_transport", [("udp", "udp"), ("udp", "tcp")])
def test_call_through_kamailio_with_audio(
    kamailio: Kamailio, pjsua_factory: Callable[..., PjsuaPeer], tmp_path: Path,
    caller_transport: str, callee_transport: str,
) -> None:
    alice = pjsua_factory("alice")
    bob = pjsua_factory("bob")
    alice_account = register(alice, kamailio, "alice", caller_transport)
    register(bob, kamailio, "bob", callee_transport)
    assert kamailio.wait_registered("bob"), kamailio.log(3000)
    tone = tmp_path / "tone.wav"
    write_tone(tone)
    recording = tmp_path / "bob.wav"

    bob.set_auto_answer(200)
    call = alice.make_call(kamailio.aor("bob"), account=alice_account)
    alice.play(tone, call)
    incoming = bob.wait_event("incoming_call", timeout=5)
    assert "alice@sip.test" in incoming["remote_uri"]
    # Through the proxy: it record-routes and challenged alice's INVITE (407; -5 = no
    # credentials yet, logged by the config's AUTH route).
    assert "Record-Route:" in incoming["message"]
    assert "Proxy-Authorization" not in incoming["message"]  # consumed by the proxy
    assert "auth INVITE from alice@sip.test: -5" in kamailio.log(20000)
    bob_call = incoming["call"]
    bob.record(recording, bob_call)

    assert alice.wait_call_state("CONFIRMED", call, timeout=5)["code"] == 200
    bob.wait_call_state("CONFIRMED", bob_call, timeout=5)
    bob.wait_event("recording", call=bob_call, timeout=5)
    bob.send_dtmf("5#", bob_call)
    assert alice.wait_event("dtmf", call=call, timeout=5)["digit"] == "5"
    assert alice.wait_event("dtmf", call=call, timeout=5)["digit"] == "#"
    # DTMF took ~0.5 s; let a bit more tone flow, then hang up.
    bob.wait_event("media_state", call=bob_call, active=True, timeout=1)
    time.sleep(1.0)

    alice.hangup(call)
    alice.wait_call_state("DISCONNECTED", call, timeout=5)
    ended = bob.wait_call_state("DISCONNECTED", bob_call, timeout=5)
    assert ended["code"] == 200  # BYE came in, answered
    bob.wait_event("recording_done", call=bob_call, timeout=5)
    assert_tone(recording)


def test_direct_call_reject_and_cancel(pjsua_factory: Callable[..., PjsuaPeer]) -> None:
    alice = pjsua_factory("alice")
    bob = pjsua_factory("bob")
    bob.set_auto_answer(486)
    call = alice.make_call(bob.uri("tcp"))
    assert alice.wait_call_state("DISCONNECTED", call, timeout=5)["code"] == 486

    bob.set_auto_answer(None)  # 180 only
    call = alice.make_call(bob.uri("udp"))
    alice.wait_call_state("EARLY", call, timeout=5)
    incoming = bob.wait_event("incoming_call", timeout=5)
    alice.hangup(call)  # CANCEL
    assert alice.wait_call_state("DISCONNECTED", call, timeout=5)["code"] == 487
    bob.wait_call_state("DISCONNECTED", incoming["call"], timeout=5)
