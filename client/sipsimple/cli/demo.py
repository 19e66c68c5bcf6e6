"""`sipsimple demo`: the README's main job, an audio call and a chat between two local accounts.

It uses the facade exactly as a UI would: SIPApplication brings the services
up under supervisord (if they are not running yet); two accounts in memory
(alice and bob, no registration) call each other through the signalling
service's own UDP address; alice plays a 1 kHz tone file into the call and
bob records it; a DTMF round trip (bob sends back every digit he gets),
hold and unhold; then a chat (an MSRP session with a ChatStream: alice
sends a line, bob answers back, each delivery reported); then a file
transfer (a FileTransferStream: alice sends 5 MB of random bytes, bob
saves them, size and SHA-1 checked); then a summary (codec, SRTP, packets,
loss, the tone's frequency found in bob's recording, the file's size and
hash). It exits 1 if the tone, a digit, a chat message or the file did not
come through, so it doubles as a smoke test of the whole stack.
"""

from __future__ import annotations

import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from sipsimple.cli.output import CleanGroup, table
from sipsimple.cli.services import collect_status
from sipsimple.notification import Notification, NotificationCenter

__all__ = ["demo"]

DOMAIN = "demo.invalid"
TONE_HZ = 1000.0
DTMF = "2#5"
WAIT = 20.0

SHOWN = (
    "SIPApplicationWillStart", "SIPApplicationDidStart", "SIPSessionNewOutgoing",
    "SIPSessionNewIncoming", "SIPSessionGotRingIndication", "SIPSessionDidStart",
    "SIPSessionDidChangeHoldState", "SIPSessionDidEnd", "SIPSessionDidFail",
    "AudioStreamGotDTMF", "AudioStreamDidStartRecordingAudio",
    "AudioStreamDidStopRecordingAudio", "MediaStreamDidFail", "ChatStreamGotMessage",
    "ChatStreamDidDeliverMessage", "ChatStreamDidNotDeliverMessage", "SIPApplicationWillEnd",
    "SIPApplicationDidEnd", "FileTransferStreamDidDeliverChunk", "FileTransferStreamDidFinish",
)
FILE_SIZE = 5_000_000  # bytes of random content alice sends bob
CHAT = ("Hi bob, did you hear the tone?", "Loud and clear, alice!")


class _Log:
    """Prints the notifications as they arrive and lets the demo wait for them."""

    def __init__(self) -> None:
        self.seen: list[Notification] = []
        self.names: dict[int, str] = {}  # id(sender) -> "alice" / "bob"
        self.arrived = threading.Condition()

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        stamp = data.timestamp.strftime("%H:%M:%S.%f")[:-3]
        who = self.names.get(id(notification.sender))
        details = {k: v for k, v in data.__dict__.items() if k not in ("timestamp", "streams")}
        if notification.name == "ChatStreamGotMessage":  # who and what, not the CPIM repr
            message = data.message
            sender = getattr(message.sender, "uri", None)
            details = {"from": sender, "content_type": message.content_type,
                       "text": repr(_text(message))}
        text = ", ".join(f"{k}={_short(v)}" for k, v in details.items())
        prefix = f"[{who}] " if who else ""
        click.echo(f"  {stamp} {prefix}{notification.name}" + (f": {text}" if text else ""))
        with self.arrived:
            self.seen.append(notification)
            self.arrived.notify_all()

    def wait(self, match: Callable[[Notification], bool], what: str,
             timeout: float = WAIT) -> Notification:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for notification in self.seen:
                    if match(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise click.ClickException(f"{what} did not happen within {timeout:g} s")
                self.arrived.wait(remaining)

    def named(self, name: str, sender: object) -> Callable[[Notification], bool]:
        return lambda n: n.name == name and n.sender is sender


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) < 100 else text[:97] + "..."


def write_tone(path: Path, frequency: float, seconds: float, rate: int = 48000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def analyse(path: Path) -> tuple[float | None, float | None]:
    """The strongest frequency (Hz) and its level (dBFS RMS) of a recording; None if silent."""
    with wave.open(str(path), "rb") as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples.astype(np.float64)
    loud = np.flatnonzero(np.abs(samples) > 1000)
    if len(loud) < rate // 10:
        return None, None
    part = samples[loud[0]:loud[-1] + 1]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    frequency = float(np.fft.rfftfreq(len(part), 1 / rate)[int(np.argmax(spectrum))])
    level = 20 * np.log10(max(float(np.sqrt(np.mean(part ** 2))), 1e-9) / 32768)
    return frequency, float(level)


def _wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise click.ClickException(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.05)


def _accounts() -> tuple[Any, Any]:
    from sipsimple.account import Account
    from sipsimple.bus.client import get_bus
    from sipsimple.configuration.keys import set_setting
    from sipsimple.configuration.settings import SIPSimpleSettings

    settings = SIPSimpleSettings()  # the null device: the demo needs no sound card
    for key in ("audio.input_device", "audio.output_device", "audio.alert_device"):
        set_setting(settings, key, None)
    settings.save()
    made = []
    for name in ("alice", "bob"):
        account = Account(f"{name}@{DOMAIN}")
        account.enabled = True
        account.display_name = name.title()
        set_setting(account, "sip.register", False)
        account.save()
        made.append(account)
    aors = {str(a.uri) for a in made}
    _wait_until(lambda: aors <= {c["aor"] for c in get_bus().call("signalling", "status")[
        "accounts"]}, "claiming the accounts")
    return made[0], made[1]


def _chat(log: _Log, alice: Any, port: int) -> list[tuple[str, float]]:
    """alice chats with bob over MSRP: a line each way, both delivered; the delivery times."""
    from sipsimple.core import SIPURI, Route, ToHeader
    from sipsimple.session import Session
    from sipsimple.streams import ChatStream

    click.echo("\nalice starts a chat with bob (MSRP over TCP), a line each way:")
    session = Session(alice)
    stream = ChatStream(alice)
    log.names.update({id(session): "alice", id(stream): "alice"})
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", port, "udp")], [stream])
    incoming = log.wait(lambda n: n.name == "SIPSessionNewIncoming" and any(
        getattr(s, "type", None) == "chat" for s in n.data.streams), "the incoming chat")
    answering = incoming.sender
    [offered] = incoming.data.streams
    log.names.update({id(answering): "bob", id(offered): "bob"})
    answering.accept([offered])
    log.wait(log.named("SIPSessionDidStart", session), "alice's chat start")
    log.wait(log.named("SIPSessionDidStart", answering), "bob's chat start")
    trips = []
    for sender, receiver, text, who in ((stream, offered, CHAT[0], "alice"),
                                        (offered, stream, CHAT[1], "bob")):
        sent_at = time.monotonic()
        message_id = sender.send_message(text)
        log.wait(lambda n, r=receiver, t=text: n.name == "ChatStreamGotMessage"  # type: ignore[misc]
                 and n.sender is r and _text(n.data.message) == t, f"{who}'s message arriving")
        outcome = log.wait(lambda n, s=sender, m=message_id: n.sender is s  # type: ignore[misc]
                           and n.name in ("ChatStreamDidDeliverMessage",
                                          "ChatStreamDidNotDeliverMessage")
                           and n.data.message_id == m, f"the delivery of {who}'s message")
        if outcome.name != "ChatStreamDidDeliverMessage":
            raise click.ClickException(f"{who}'s chat message was not delivered: "
                                       f"{outcome.data.code} {outcome.data.reason}")
        trips.append((who, (time.monotonic() - sent_at) * 1000))
    click.echo("\nalice ends the chat:")
    session.end()
    log.wait(log.named("SIPSessionDidEnd", session), "the end of alice's chat")
    log.wait(lambda n: n.sender is answering and n.name in ("SIPSessionDidEnd",
                                                             "SIPSessionDidFail"),
             "the end of bob's chat")
    return trips


def _file_transfer(log: _Log, alice: Any, port: int, work: Path) -> dict[str, Any]:
    """alice sends bob a file over MSRP (RFC 5547); bob saves it, checked by size and SHA-1."""
    import hashlib
    import os

    from sipsimple.core import SIPURI, Route, ToHeader
    from sipsimple.session import Session
    from sipsimple.streams import FileTransferStream
    from sipsimple.streams.msrp import file_selector_for

    source = work / "demo-file.bin"
    source.write_bytes(os.urandom(FILE_SIZE))
    received = work / "received"
    click.echo(f"\nalice sends bob a file ({source.name}, {FILE_SIZE} random bytes, "
               f"MSRP, RFC 5547); bob saves it in {received}:")
    selector = file_selector_for(str(source))  # the msrp service hashes it first
    session = Session(alice)
    stream = FileTransferStream(alice, selector)
    log.names.update({id(session): "alice", id(stream): "alice"})
    started = time.monotonic()
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", port, "udp")], [stream])
    incoming = log.wait(lambda n: n.name == "SIPSessionNewIncoming" and any(
        getattr(s, "type", None) == "file-transfer" for s in n.data.streams), "the offered file")
    answering = incoming.sender
    [offered] = incoming.data.streams
    offered.directory = str(received)
    log.names.update({id(answering): "bob", id(offered): "bob"})
    answering.accept([offered])
    saved = log.wait(log.named("FileTransferStreamDidFinish", offered), "bob saving the file",
                     60)
    sent = log.wait(log.named("FileTransferStreamDidFinish", stream), "alice's transfer end",
                    60)
    elapsed = time.monotonic() - started
    if saved.data.error is not None or sent.data.error is not None:
        raise click.ClickException(f"the file transfer failed: "
                                   f"{saved.data.error or sent.data.error}")
    path = Path(saved.data.file_path)
    digest = hashlib.sha1(path.read_bytes()).digest()
    click.echo("\nalice ends the file transfer session:")
    session.end()
    log.wait(log.named("SIPSessionDidEnd", session), "the end of alice's file session")
    log.wait(lambda n: n.sender is answering and n.name in ("SIPSessionDidEnd",
                                                             "SIPSessionDidFail"),
             "the end of bob's file session")
    return {"name": source.name, "path": path, "size": path.stat().st_size,
            "hash_ok": digest == selector.hash and path.stat().st_size == FILE_SIZE,
            "seconds": elapsed}


def _text(message: Any) -> str:
    content = message.content
    return content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content


@click.group(cls=CleanGroup, invoke_without_command=True)
def demo() -> None:
    """Start the services, call between two local accounts with audio, chat, send a file;
    print a summary."""
    from sipsimple.application import SIPApplication
    from sipsimple.audio import AudioError, WavePlayer, configure_media_service
    from sipsimple.bus.client import get_bus
    from sipsimple.core import SIPURI, Route, ToHeader
    from sipsimple.session import Session
    from sipsimple.storage import MemoryStorage
    from sipsimple.streams import AudioStream

    log = _Log()
    center = NotificationCenter()
    for name in SHOWN:
        center.add_observer(log, name=name)
    app = SIPApplication()
    from sipsimple.bus.endpoints import state_dir

    # In the state directory: one of those the media service may play and record in.
    work = Path(tempfile.mkdtemp(prefix="demo-", dir=state_dir()))
    try:
        click.echo("Starting SIPApplication (starts the services under supervisord if needed):")
        app.start(MemoryStorage())
        log.wait(lambda n: n.name == "SIPApplicationDidStart", "SIPApplicationDidStart", 60)

        click.echo("\nServices:")
        table(["SERVICE", "STATE", "PID", "BUS", "VERSION"],
              [[r["service"], r["state"], r["pid"] or "-", "ok" if r["answers"] else "no answer",
                r["version"] or "-"] for r in collect_status()])

        alice, _bob = _accounts()
        try:  # the null device now, not when the change gets there
            configure_media_service()
        except AudioError as exc:
            click.echo(f"warning: {exc}", err=True)
        tone = write_tone(work / "tone-1khz.wav", TONE_HZ, 4.0)
        recording = work / "bob-heard.wav"
        port = get_bus().call("signalling", "get_transports")["udp"]

        click.echo("\nalice calls bob (both offer opus, G722, PCMU, PCMA; SDES-SRTP optional):")
        session = Session(alice)
        stream = AudioStream(alice)
        log.names.update({id(session): "alice", id(stream): "alice"})
        session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                        [Route("127.0.0.1", port, "udp")], [stream])
        incoming = log.wait(lambda n: n.name == "SIPSessionNewIncoming", "the incoming call")
        answering = incoming.sender
        [offered] = incoming.data.streams
        log.names.update({id(answering): "bob", id(offered): "bob"})
        answering.send_ring_indication()
        answering.accept([offered])
        log.wait(log.named("SIPSessionDidStart", session), "alice's session start")
        log.wait(log.named("SIPSessionDidStart", answering), "bob's session start")
        srtp = "SRTP " + ("on" if stream.srtp_active else "off")
        click.echo(f"\n  connected: {stream.codec} at {stream.sample_rate} Hz, {srtp}, "
                   f"{stream.local_rtp_address}:{stream.local_rtp_port} <-> "
                   f"{offered.local_rtp_address}:{offered.local_rtp_port}")

        click.echo(f"\nalice plays {tone.name} into the call; bob records what he hears:")
        offered.start_recording(str(recording))
        player = WavePlayer(stream.mixer, str(tone))
        stream.bridge.add(player)
        player.start()
        start = offered.statistics.get("packets_received", 0)
        _wait_until(lambda: offered.statistics.get("packets_received", 0) >= start + 100,
                    "two seconds of audio at bob")
        player.stop()
        offered.stop_recording()

        click.echo(f"\nDTMF round trip: alice sends {DTMF}, bob sends back each digit he gets:")
        trips = []
        for digit in DTMF:
            sent_at = time.monotonic()
            stream.send_dtmf(digit)
            log.wait(lambda n, d=digit: n.name == "AudioStreamGotDTMF"  # type: ignore[misc]
                     and n.sender is offered and n.data.digit == d, f"DTMF {digit} at bob")
            offered.send_dtmf(digit)
            log.wait(lambda n, d=digit: n.name == "AudioStreamGotDTMF"  # type: ignore[misc]
                     and n.sender is stream and n.data.digit == d, f"DTMF {digit} back at alice")
            trips.append((time.monotonic() - sent_at) * 1000)

        time.sleep(1.0)  # the last digit's end packets (RFC 4733, ~0.25 s) go out before the hold
        click.echo("\nalice puts bob on hold, then takes him off hold:")
        session.hold()
        log.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                 and n.data.on_hold, "the hold")
        held_at = (stream.statistics.get("packets_sent", 0),
                   offered.statistics.get("packets_sent", 0))
        time.sleep(1.0)
        held_after = (stream.statistics.get("packets_sent", 0),
                      offered.statistics.get("packets_sent", 0))
        click.echo(f"  packets sent during one second on hold: alice {held_after[0] - held_at[0]},"
                   f" bob {held_after[1] - held_at[1]}")
        session.unhold()
        log.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                 and not n.data.on_hold, "the unhold")
        _wait_until(lambda: offered.statistics.get("packets_sent", 0) > held_after[1] + 10,
                    "bob sending again after the unhold")

        alice_stats, bob_stats = stream.statistics, offered.statistics
        codec, rate, srtp_active = stream.codec, stream.sample_rate, stream.srtp_active
        click.echo("\nalice hangs up:")
        session.end()
        log.wait(log.named("SIPSessionDidEnd", session), "the end of alice's session")
        log.wait(log.named("SIPSessionDidEnd", answering), "the end of bob's session")

        chat_trips = _chat(log, alice, port)
        transfer = _file_transfer(log, alice, port, work)

        frequency, level = analyse(recording)
        click.echo("\nSummary:")
        table(["", "ALICE", "BOB"], [
            ["codec", f"{codec}/{rate} Hz", f"{offered.codec}/{offered.sample_rate} Hz"],
            ["SRTP", "yes" if srtp_active else "no", "yes" if offered.srtp_active else "no"],
            ["packets sent", alice_stats.get("packets_sent"), bob_stats.get("packets_sent")],
            ["packets received", alice_stats.get("packets_received"),
             bob_stats.get("packets_received")],
            ["packets lost", alice_stats.get("lost"), bob_stats.get("lost")],
            ["jitter (ms)", alice_stats.get("jitter_ms"), bob_stats.get("jitter_ms")],
        ])
        found = "nothing" if frequency is None else f"{frequency:.0f} Hz at {level:.1f} dBFS"
        click.echo(f"\n  tone played: {TONE_HZ:.0f} Hz; found in bob's recording: {found}")
        click.echo(f"  recording: {recording}")
        click.echo("  DTMF round trips: " + ", ".join(
            f"{d} {ms:.0f} ms" for d, ms in zip(DTMF, trips, strict=True)))
        click.echo("  chat messages delivered: " + ", ".join(
            f"{who} {ms:.0f} ms" for who, ms in chat_trips))
        hash_ok = "SHA-1 ok" if transfer["hash_ok"] else "SHA-1 MISMATCH"
        click.echo(f"  file transfer: {transfer['name']}, {transfer['size']} bytes saved to "
                   f"{transfer['path']} in {transfer['seconds']:.2f} s (session set-up "
                   f"included), {hash_ok}")
        if not transfer["hash_ok"]:
            raise click.ClickException("the file did not arrive whole")
        if frequency is None or abs(frequency - TONE_HZ) > 20:
            raise click.ClickException("the tone did not come through")
        if held_after != held_at:
            raise click.ClickException("RTP was sent while on hold")
    finally:
        if app.state not in (None, "stopped"):  # start() failed: nothing to stop
            click.echo("\nStopping SIPApplication (the services keep running; "
                       "`sipsimple services stop` ends them):")
            app.stop()
            log.wait(lambda n: n.name == "SIPApplicationDidEnd", "SIPApplicationDidEnd")
        for name in SHOWN:
            center.discard_observer(log, name=name)
