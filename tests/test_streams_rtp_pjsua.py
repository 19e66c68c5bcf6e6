"""Negotiation, SRTP and codecs against a real peer: pjsua2 calls us on loopback.

pjsua2 aborts its process on misuse, so each call runs in a child process:
this file executed as a script. The child starts a pjsua2 endpoint that
plays a 440 Hz tone and records what it hears, makes it call a UDP socket,
answers the INVITE by hand with `answer_audio_offer`'s m-line, then sends
a 1 kHz tone with our codec (through `SRTPContext` when SRTP was agreed)
and decodes what pjsua2 sends. It prints one JSON line; the test checks the
tones' frequencies both ways and that no packet failed SRTP.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave
from typing import Any

import numpy as np
import pytest
from harness.pjsua import needs_pjsua2

pytestmark = [pytest.mark.integration, needs_pjsua2]

OUR_TONE = 1000.0
THEIR_TONE = 440.0
SECONDS = 2.0


def spectrum(pcm: bytes, rate: int) -> tuple[float, float]:
    """(strongest frequency, RMS) of the second half of `pcm` (after start-up)."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)[len(pcm) // 4 :]
    if len(samples) < 64:
        return 0.0, 0.0
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(power) * rate / len(samples)), float(np.sqrt(np.mean(samples**2)))


@pytest.mark.parametrize(
    ("codec", "srtp_use"),
    [("PCMU", 0), ("PCMA", 1), ("G722", 1), ("PCMU", 2), ("G722", 2)],
)
def test_audio_both_ways_with_pjsua2(codec: str, srtp_use: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        done = subprocess.run(
            [sys.executable, __file__, codec, str(srtp_use), directory],
            capture_output=True, text=True, timeout=90, check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert result["codec"] == codec
    assert result["srtp"] == (None if srtp_use == 0 else "AES_CM_128_HMAC_SHA1_80")
    assert result["errors"] == []
    assert result["received_packets"] > 10
    assert abs(result["heard_by_us"][0] - THEIR_TONE) <= 10
    assert abs(result["heard_by_pjsua"][0] - OUR_TONE) <= 10
    # Both sides send at amplitude 8000 (RMS 5657). G.711 agrees; pjmedia's
    # G.722 scales PCM 6 dB apart from FFmpeg's (docs/media.md).
    low, high = (0.25, 4.0) if codec == "G722" else (0.7, 1.4)
    for level in (result["heard_by_us"][1], result["heard_by_pjsua"][1]):
        assert 5657 * low <= level <= 5657 * high


# ---- the child process ----


def _sip_headers(head: str) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


_ALIVE: list[Any] = []  # pjsua2 objects must outlive _child: their destructors abort mid-call


def _child(codec_name: str, srtp_use: int, directory: str) -> dict[str, Any]:
    import pjsua2 as pj

    from sipsimple.core.sdp import FrozenSDPSession, SDPConnection, SDPSession
    from sipsimple.streams.rtp import AudioConfig, answer_audio_offer
    from sipsimple_services.media.codecs import create_codec
    from sipsimple_services.media.srtp import SRTPContext, SRTPError

    tone_path = os.path.join(directory, "tone.wav")
    record_path = os.path.join(directory, "heard.wav")
    with wave.open(tone_path, "wb") as tone_file:
        tone_file.setnchannels(1)
        tone_file.setsampwidth(2)
        tone_file.setframerate(16000)
        t = np.arange(int(16000 * (SECONDS + 3))) / 16000
        tone_file.writeframes((np.sin(2 * np.pi * THEIR_TONE * t) * 8000).astype("<i2").tobytes())

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))

    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.logConfig.level = 0
    config.logConfig.consoleLevel = 0
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.medConfig.noVad = True
    config.medConfig.clockRate = 16000
    endpoint.libInit(config)
    transport = pj.TransportConfig()
    transport.boundAddress = transport.publicAddress = "127.0.0.1"
    endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    endpoint.libStart()
    endpoint.audDevManager().setNullDev()
    for info in endpoint.codecEnum2():
        wanted = info.codecId.lower().startswith(codec_name.lower() + "/")
        endpoint.codecSetPriority(info.codecId, 200 if wanted else 0)
    account_config = pj.AccountConfig()
    account_config.idUri = "sip:pjsua@127.0.0.1"
    account_config.mediaConfig.srtpUse = srtp_use
    account_config.mediaConfig.srtpSecureSignaling = 0
    account_config.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account_config.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
    account = pj.Account()
    account.create(account_config)

    class Call(pj.Call):
        player: Any = None
        recorder: Any = None

        def onCallMediaState(self, prm: Any) -> None:
            audio = self.getAudioMedia(-1)
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(tone_path, 0)
            self.player.startTransmit(audio)
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(record_path)
            audio.startTransmit(self.recorder)

    call = Call(account)
    _ALIVE.extend([endpoint, account, call])
    call.makeCall(f"sip:us@127.0.0.1:{sip.getsockname()[1]}", pj.CallOpParam(True))
    sip.settimeout(0.01)
    deadline = time.monotonic() + 20
    invite = None
    while invite is None:
        if time.monotonic() > deadline:
            raise RuntimeError("no INVITE from pjsua2")
        endpoint.libHandleEvents(10)
        try:
            data, peer = sip.recvfrom(65535)
        except TimeoutError:
            continue
        if data.startswith(b"INVITE"):
            invite = data.decode()
    head, body = invite.split("\r\n\r\n", 1)
    policy = {0: "disabled", 1: "optional", 2: "mandatory"}[srtp_use]
    media, negotiated = answer_audio_offer(
        FrozenSDPSession.parse(body), 0, AudioConfig(srtp=policy),
        "127.0.0.1", rtp.getsockname()[1],
    )
    answer = SDPSession("127.0.0.1", connection=SDPConnection("127.0.0.1"))
    answer.media.append(media)
    sdp = bytes(answer)
    headers = _sip_headers(head)
    response = "SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in headers["via"])
    response += (
        f"From: {headers['from'][0]}\r\nTo: {headers['to'][0]};tag=us\r\n"
        f"Call-ID: {headers['call-id'][0]}\r\nCSeq: {headers['cseq'][0]}\r\n"
        f"Contact: <sip:us@127.0.0.1:{sip.getsockname()[1]}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
    )
    sip.sendto(response.encode() + sdp, peer)

    codec = create_codec(negotiated.codec)
    srtp = negotiated.srtp
    context = SRTPContext(srtp.suite, srtp.local_key, srtp.remote_key) if srtp else None
    t = np.arange(int(codec.sample_rate * (SECONDS + 1))) / codec.sample_rate
    tone = (np.sin(2 * np.pi * OUR_TONE * t) * 8000).astype("<i2").tobytes()
    rtp.setblocking(False)
    received: list[bytes] = []
    errors: list[str] = []
    sequence, timestamp, sent = random.randrange(65536), random.randrange(2**32), 0
    start = time.monotonic()
    while time.monotonic() - start < SECONDS:
        endpoint.libHandleEvents(0)
        while True:
            try:
                packet, _ = rtp.recvfrom(2048)
            except BlockingIOError:
                break
            try:
                if context is not None:
                    packet = context.unprotect(packet)
                if packet[1] & 0x7F == negotiated.local_payload_type:
                    received.append(codec.decode(packet[12:]))
            except (SRTPError, ValueError) as exc:
                errors.append(str(exc))
        while sent * 0.02 <= time.monotonic() - start:  # paced at 20 ms
            frame = tone[sent * codec.frame_bytes : (sent + 1) * codec.frame_bytes]
            header = struct.pack(
                "!BBHII", 0x80, negotiated.payload_type, (sequence + sent) & 0xFFFF,
                (timestamp + sent * codec.timestamp_increment) & 0xFFFFFFFF, 0x5EED,
            )
            packet = header + codec.encode(frame)
            rtp.sendto(context.protect(packet) if context else packet,
                       (negotiated.remote_address, negotiated.remote_port))
            sent += 1
        time.sleep(0.002)
    call.getAudioMedia(-1).stopTransmit(call.recorder)
    call.recorder = None  # closes the WAV file
    for _ in range(5):
        endpoint.libHandleEvents(10)
    with wave.open(record_path) as heard:
        recorded, rate = heard.readframes(heard.getnframes()), heard.getframerate()
    return {
        "codec": negotiated.codec,
        "srtp": srtp.suite if srtp else None,
        "errors": errors[:5],
        "received_packets": len(received),
        "heard_by_us": spectrum(b"".join(received), codec.sample_rate),
        "heard_by_pjsua": spectrum(recorded, rate),
    }


if __name__ == "__main__":
    outcome = _child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    print(json.dumps(outcome), flush=True)
    os._exit(0)  # skip pjsua2's teardown: the call is still up and it would abort
