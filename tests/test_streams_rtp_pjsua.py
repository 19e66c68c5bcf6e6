"""Negotiation, SRTP and codecs against a real peer: pjsua2 calls us on loopback.

pjsua2 aborts its process on misuse, so each call runs in a child process:
this file executed as a script. The child starts a pjsua2 endpoint that
plays a 440 Hz tone and records what it hears. Incoming: pjsua2 calls a
UDP socket, which answers the INVITE by hand with `answer_audio_offer`'s
m-line. Outgoing: the socket sends an INVITE with `build_audio_offer`'s
m-line, pjsua2 answers and `negotiate_answer` reads its answer. Then the
child sends a 1 kHz tone with our codec (through `SRTPContext` when SRTP
was agreed) and decodes what pjsua2 sends. It prints one JSON line; the test checks the
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
    ("direction", "codec", "srtp_use"),
    [
        ("incoming", "PCMU", 0), ("incoming", "PCMA", 1), ("incoming", "G722", 1),
        ("incoming", "PCMU", 2), ("incoming", "G722", 2),
        ("outgoing", "PCMU", 0), ("outgoing", "G722", 1), ("outgoing", "PCMA", 2),
    ],
)
def test_audio_both_ways_with_pjsua2(direction: str, codec: str, srtp_use: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        done = subprocess.run(
            [sys.executable, __file__, direction, codec, str(srtp_use), directory],
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


def _answer_call(
    pj: Any, call: Any, our_sip: str, receive: Any, config: Any, rtp_port: int, sip: Any
) -> Any:
    """pjsua2 calls us; we answer its INVITE with 200 and our m-line."""
    from sipsimple.core.sdp import FrozenSDPSession, SDPConnection, SDPSession
    from sipsimple.streams.rtp import answer_audio_offer

    _ALIVE.append(call)
    call.makeCall(f"sip:us@{our_sip}", pj.CallOpParam(True))
    invite, peer = receive(b"INVITE")
    head, body = invite.split("\r\n\r\n", 1)
    media, negotiated = answer_audio_offer(
        FrozenSDPSession.parse(body), 0, config, "127.0.0.1", rtp_port
    )
    answer = SDPSession("127.0.0.1", connection=SDPConnection("127.0.0.1"))
    answer.media.append(media)
    sdp = bytes(answer)
    headers = _sip_headers(head)
    response = "SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in headers["via"])
    response += (
        f"From: {headers['from'][0]}\r\nTo: {headers['to'][0]};tag=us\r\n"
        f"Call-ID: {headers['call-id'][0]}\r\nCSeq: {headers['cseq'][0]}\r\n"
        f"Contact: <sip:us@{our_sip}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
    )
    sip.sendto(response.encode() + sdp, peer)
    return negotiated


_ALIVE: list[Any] = []  # pjsua2 objects must outlive _child: their destructors abort mid-call


def _child(direction: str, codec_name: str, srtp_use: int, directory: str) -> dict[str, Any]:
    import pjsua2 as pj

    from sipsimple.core.sdp import FrozenSDPSession, SDPConnection, SDPSession
    from sipsimple.streams.rtp import (
        AudioConfig,
        build_audio_offer,
        negotiate_answer,
    )
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
    transport_id = endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    pjsua_address = endpoint.transportGetInfo(transport_id).localName  # "127.0.0.1:port"
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

    class Account(pj.Account):
        def onIncomingCall(self, prm: Any) -> None:
            call = Call(self, prm.callId)
            _ALIVE.append(call)
            answer = pj.CallOpParam()
            answer.statusCode = 200
            call.answer(answer)

    account = Account()
    account.create(account_config)
    _ALIVE.extend([endpoint, account])
    sip.settimeout(0.01)
    policy = {0: "disabled", 1: "optional", 2: "mandatory"}[srtp_use]
    audio_config = AudioConfig(codecs=(codec_name,), srtp=policy)
    our_sip = f"127.0.0.1:{sip.getsockname()[1]}"

    def receive(start_line: bytes) -> tuple[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            endpoint.libHandleEvents(10)
            try:
                data, peer = sip.recvfrom(65535)
            except TimeoutError:
                continue
            if data.startswith(start_line):
                return data.decode(), peer
        raise RuntimeError(f"pjsua2 sent no {start_line!r}")

    if direction == "outgoing":
        offer = build_audio_offer(audio_config, "127.0.0.1", rtp.getsockname()[1])
        offer_session = SDPSession("127.0.0.1", connection=SDPConnection("127.0.0.1"))
        offer_session.media.append(offer)
        body = bytes(offer_session)
        common = (
            f"Max-Forwards: 70\r\nFrom: <sip:us@127.0.0.1>;tag=us\r\n"
            f"Call-ID: {random.getrandbits(64):x}@127.0.0.1\r\n"
        )
        invite = (
            f"INVITE sip:pjsua@{pjsua_address} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {our_sip};rport;branch=z9hG4bK{random.getrandbits(64):x}\r\n"
            f"{common}To: <sip:pjsua@{pjsua_address}>\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:us@{our_sip}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        host, port = pjsua_address.rsplit(":", 1)
        sip.sendto(invite.encode() + body, (host, int(port)))
        response, _ = receive(b"SIP/2.0 200")
        head, answer_body = response.split("\r\n\r\n", 1)
        headers = _sip_headers(head)
        target = headers["contact"][0].strip("<>").split(">")[0]
        ack = (
            f"ACK {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {our_sip};rport;branch=z9hG4bK{random.getrandbits(64):x}\r\n"
            f"{common}To: {headers['to'][0]}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )
        sip.sendto(ack.encode(), (host, int(port)))
        negotiated = negotiate_answer(offer, FrozenSDPSession.parse(answer_body), 0, audio_config)
    else:
        negotiated = _answer_call(
            pj, Call(account), our_sip, receive, audio_config, rtp.getsockname()[1], sip
        )
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
                if 192 <= packet[1] <= 223:  # RTCP on the RTP port (rtcp-mux, RFC 5761 4)
                    if context is not None:
                        context.unprotect_rtcp(packet)
                    continue
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
    for call in [c for c in _ALIVE if isinstance(c, Call) and c.recorder is not None]:
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
        "rtcp_mux": negotiated.rtcp_mux,
        "heard_by_us": spectrum(b"".join(received), codec.sample_rate),
        "heard_by_pjsua": spectrum(recorded, rate),
    }


if __name__ == "__main__":
    outcome = _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
    print(json.dumps(outcome), flush=True)
    os._exit(0)  # skip pjsua2's teardown: the call is still up and it would abort
