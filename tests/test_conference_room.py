"""ConferenceRoom: a focus hosted by one of our accounts, with our accounts as participants.

The signalling, dns and media services run as processes; the host and the
participants are accounts of this process whose requests go through the
signalling service's own UDP address (their outbound proxy), so every call,
SUBSCRIBE and REFER leaves the service and comes back in. Audio is checked
from recordings: each participant plays its own tone into its call and
records what it hears; the FFT of the recording must show the tones of the
others and not its own.
"""

from __future__ import annotations

import os
import signal
import wave
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.audio import audio_services, wait_until
from harness.baresip import Baresip, needs_baresip
from harness.notifications import Recorder
from harness.sessions import DOMAIN, facade, route, sent_by
from harness.signalling import finished
from harness.sipp import SIPp, needs_sipp, scenario

from sipsimple.account import Account
from sipsimple.audio import TonePlayer
from sipsimple.bus.client import get_bus
from sipsimple.conference import ConferenceRoom
from sipsimple.configuration.datatypes import SIPProxyAddress
from sipsimple.core import SIPURI, ToHeader
from sipsimple.payloads.cpim import ChatIdentity
from sipsimple.session import Session
from sipsimple.streams import AudioStream, ChatStream

pytestmark = pytest.mark.integration

TONES = {"alice": 440.0, "bob": 700.0, "carol": 1100.0}


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    audio_services(spawn_service, msrp=True)

    def configure(account: Account) -> None:
        account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", route().port, "udp")
        account.rtp.audio_codec_list = ("PCMU",)
        account.rtp.encryption.enabled = False

    with facade(["host", "alice", "bob", "carol", "dave"], configure=configure) as created:
        yield created


@pytest.fixture
def room(accounts: dict[str, Account]) -> Iterator[ConferenceRoom]:
    room = ConferenceRoom(accounts["host"], f"sip:room@{DOMAIN}", subject="test")
    room.start()
    yield room
    room.stop()


def join(events: Recorder, account: Account, room: ConferenceRoom) -> tuple[Session, AudioStream]:
    session = Session(account)
    stream = AudioStream(account)
    session.connect(ToHeader(room.uri), [route()], [stream])
    events.wait(sent_by(session, "SIPSessionDidStart"))
    return session, stream


def spectrum_peaks(path: Path, tones: Iterable[float] = TONES.values()) -> dict[float, float]:
    """The level of each of `tones` in a recording, relative to the loudest one."""
    with wave.open(str(path), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples = samples[::channels]
    part = samples[len(samples) // 5:].astype(np.float64)  # the mix has settled
    assert len(part) > rate // 2, f"only {len(part)} samples in {path}"
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    frequencies = np.fft.rfftfreq(len(part), 1 / rate)

    def level(frequency: float) -> float:
        band = (frequencies > frequency - 10) & (frequencies < frequency + 10)
        return float(spectrum[band].max())

    levels = {frequency: level(frequency) for frequency in tones}
    loudest = max(levels.values())
    assert loudest > 0, f"silence in {path}"
    return {frequency: value / loudest for frequency, value in levels.items()}


def received(stream: AudioStream) -> int:
    return int(stream.statistics.get("packets_received", 0))


def test_each_participant_hears_the_others_and_not_itself(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder,
        tmp_path: Path) -> None:
    hear_each_other(accounts, room, events, tmp_path)


@pytest.fixture
def two_workers(spawn_service: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A second media worker ("media-1"), known to the facade started after this."""
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")
    spawn_service("sipsimple_services.media", "media-1", SIPSIMPLE_MEDIA_WORKER="1",
                  SIPSIMPLE_CLIENT_TIMEOUT="2")


def test_with_two_media_workers_every_leg_of_the_room_is_on_its_bridges_worker(
        two_workers: None, accounts: dict[str, Account], room: ConferenceRoom,
        events: Recorder, tmp_path: Path) -> None:
    """The participants' own streams are placed by load, over both workers; the room's
    legs all go to its bridge's worker (one mix holds them), the ones it dials out
    too, and everyone hears the others."""
    hear_each_other(accounts, room, events, tmp_path, ended=False)
    participants = [s for name in TONES for s in _streams_of(events, accounts[name])]
    assert {s.mixer.worker for s in participants} == {"media", "media-1"}
    alice = _streams_of(events, accounts["alice"])[0].session
    alice.conference.add_participant(SIPURI(user="dave", host=DOMAIN))
    new = incoming_for(events, accounts["dave"])
    new.sender.accept(new.data.streams)
    events.wait(sent_by(new.sender, "SIPSessionDidStart"))

    def room_legs() -> list[Any]:
        return [stream for session in list(room._keys) for stream in session.streams or []
                if stream.type == "audio"]

    # the room's own side of dave's call starts a moment after his
    wait_until(lambda: len(room_legs()) == 4, "the room's leg to dave")
    legs = room_legs()
    assert {stream.mixer.worker for stream in legs} == {room.bridge.mixer.worker}
    for session in [alice, new.sender, *(s.session for s in participants[1:])]:
        if session.state != "terminated":
            session.end()
            events.wait(sent_by(session, "SIPSessionDidEnd"))
    wait_until(lambda: not room.participants, "participants left behind")


def _streams_of(events: Recorder, account: Account) -> list[AudioStream]:
    """The audio streams of `account`'s sessions that started."""
    return [stream for n in events.named("SIPSessionDidStart")
            if n.sender.account is account for stream in n.sender.streams or []
            if stream.type == "audio"]


def hear_each_other(accounts: dict[str, Account], room: ConferenceRoom, events: Recorder,
                    tmp_path: Path, ended: bool = True) -> None:
    """TONES' participants join and play their tones; each hears the others and not
    itself. With `ended`, they leave again."""
    legs: dict[str, tuple[Session, AudioStream]] = {}
    for name in TONES:
        legs[name] = join(events, accounts[name], room)
        assert legs[name][0].remote_focus  # the room's Contact says isfocus
    wait_until(lambda: len(room.participants) == 3, "not every participant joined")
    assert {p.uri for p in room.participants} == {
        f"sip:{name}@{DOMAIN}" for name in TONES}

    tones = []
    for name, (_session, stream) in legs.items():
        tone = TonePlayer(stream.mixer, [TONES[name]], volume=30)
        tone.start()
        stream.mixer.connect(tone, stream)  # into the call only: not into its recording
        tones.append(tone)
    try:
        for name, (_session, stream) in legs.items():
            stream.start_recording(str(tmp_path / f"{name}.wav"))
        starts = {name: received(stream) for name, (_s, stream) in legs.items()}
        wait_until(lambda: all(received(stream) >= starts[name] + 100
                               for name, (_s, stream) in legs.items()), "no RTP arrived")
        for _session, stream in legs.values():
            stream.stop_recording()
    finally:
        for tone in tones:
            tone.stop()

    for name in TONES:
        levels = spectrum_peaks(tmp_path / f"{name}.wav")
        for other, frequency in TONES.items():
            if other == name:
                assert levels[frequency] < 0.05, (name, levels)  # not its own tone (it would be ~1)
            else:
                assert levels[frequency] > 0.3, (name, other, levels)
    if not ended:
        return

    for session, _stream in legs.values():
        session.end()
        events.wait(sent_by(session, "SIPSessionDidEnd"))
    wait_until(lambda: len(events.named("ConferenceRoomParticipantDidLeave")) == 3,
               "participants left behind")
    left = {n.data.participant.uri for n in events.named("ConferenceRoomParticipantDidLeave")}
    assert left == {f"sip:{name}@{DOMAIN}" for name in TONES}
    assert not room.participants


def users_of(notification: Any) -> set[str]:
    return {user.entity for user in notification.data.conference_info.users or ()}


def sees(events: Recorder, session: Session, expected: set[str]) -> Any:
    """The first conference-info of `session` that lists exactly `expected`."""
    return events.wait(lambda n: n.name == "SIPSessionGotConferenceInfo" and n.sender is session
                       and users_of(n) == expected)


def versions(events: Recorder, session: Session) -> list[int]:
    return [n.data.conference_info.version for n in events.named("SIPSessionGotConferenceInfo")
            if n.sender is session]


def test_every_participant_sees_the_conference_info_after_each_join_and_leave(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder) -> None:
    uri = {name: f"sip:{name}@{DOMAIN}" for name in ("alice", "bob", "carol")}
    alice, _ = join(events, accounts["alice"], room)
    sees(events, alice, {uri["alice"]})
    bob, _ = join(events, accounts["bob"], room)
    for session in (alice, bob):
        sees(events, session, {uri["alice"], uri["bob"]})
    carol, _ = join(events, accounts["carol"], room)
    everyone = set(uri.values())
    for session in (alice, bob, carol):
        state = sees(events, session, everyone).data.conference_info
        assert state.conference_state.user_count == 3
        assert state.entity == str(room.uri)

    room.mute(uri["bob"])
    for session in (alice, carol):
        events.wait(lambda n, s=session: n.name == "SIPSessionGotConferenceInfo"  # type: ignore[misc]
                    and n.sender is s and _media_status(n, uri["bob"]) == "recvonly")

    bob.end()
    events.wait(sent_by(bob, "SIPSessionDidEnd"))
    for session in (alice, carol):
        state = sees(events, session, {uri["alice"], uri["carol"]}).data.conference_info
        assert state.conference_state.user_count == 2
    for session in (alice, bob, carol):
        seen = versions(events, session)
        assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    # alice saw her join, bob's, carol's, bob's mute and bob's leaving, one version each
    assert versions(events, alice)[:5] == [1, 2, 3, 4, 5]
    for session in (alice, carol):
        session.end()
        events.wait(sent_by(session, "SIPSessionDidEnd"))


def _media_status(notification: Any, entity: str) -> str | None:
    user = notification.data.conference_info.user(entity)
    if user is None or not user.endpoints or not user.endpoints[0].media:
        return None
    return str(user.endpoints[0].media[0].status)


def incoming_for(events: Recorder, account: Account) -> Any:
    return events.wait(lambda n: n.name == "SIPSessionNewIncoming"
                       and n.sender.account is account)


def test_refer_adds_and_removes_participants(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder) -> None:
    alice, _ = join(events, accounts["alice"], room)
    bob, _ = join(events, accounts["bob"], room)
    sees(events, alice, {f"sip:alice@{DOMAIN}", f"sip:bob@{DOMAIN}"})
    dave_uri = SIPURI(user="dave", host=DOMAIN)

    alice.conference.add_participant(dave_uri)
    new = incoming_for(events, accounts["dave"])
    dave: Session = new.sender
    dave.send_ring_indication()
    events.wait(lambda n: n.name == "SIPConferenceGotAddParticipantProgress"
                and n.sender is alice and n.data.code == 180)
    dave.accept(new.data.streams)
    added = events.wait(lambda n: n.name in ("SIPConferenceDidAddParticipant",
                                             "SIPConferenceDidNotAddParticipant")
                        and n.sender is alice)
    assert added.name == "SIPConferenceDidAddParticipant", added.data
    assert added.data.participant == dave_uri
    progress = [n.data.code for n in events.named("SIPConferenceGotAddParticipantProgress")
                if n.sender is alice]
    assert progress == [100, 180]
    events.wait(sent_by(dave, "SIPSessionDidStart"))
    assert dave.remote_focus  # the room called as the focus: dave subscribes too
    everyone = {f"sip:{name}@{DOMAIN}" for name in ("alice", "bob", "dave")}
    for session in (alice, bob, dave):
        sees(events, session, everyone)
    [joined] = [p for p in room.participants if p.uri == str(dave_uri)]
    assert joined.joining_method == "dialed-out"

    alice.conference.remove_participant(f"sip:bob@{DOMAIN}")
    removed = events.wait(lambda n: n.name in ("SIPConferenceDidRemoveParticipant",
                                               "SIPConferenceDidNotRemoveParticipant")
                          and n.sender is alice)
    assert removed.name == "SIPConferenceDidRemoveParticipant", removed.data
    ended = events.wait(sent_by(bob, "SIPSessionDidEnd"))
    assert ended.data.originator == "remote"
    sees(events, alice, {f"sip:alice@{DOMAIN}", f"sip:dave@{DOMAIN}"})

    for session in (alice, dave):
        session.end()
        events.wait(sent_by(session, "SIPSessionDidEnd"))


def test_refer_failures_carry_the_code(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder) -> None:
    alice, _ = join(events, accounts["alice"], room)

    alice.conference.add_participant(f"sip:carol@{DOMAIN}")
    new = incoming_for(events, accounts["carol"])
    new.sender.reject(486, "Busy Here")
    failed = events.wait(lambda n: n.name in ("SIPConferenceDidAddParticipant",
                                              "SIPConferenceDidNotAddParticipant")
                         and n.sender is alice)
    assert failed.name == "SIPConferenceDidNotAddParticipant"
    assert failed.data.code == 486
    refused = events.wait(lambda n: n.name == "ConferenceRoomDidNotAddParticipant")
    assert refused.data.code == 486

    alice.conference.remove_participant(f"sip:bob@{DOMAIN}")  # not in the room
    failed = events.wait(lambda n: n.name in ("SIPConferenceDidRemoveParticipant",
                                              "SIPConferenceDidNotRemoveParticipant")
                         and n.sender is alice)
    assert failed.name == "SIPConferenceDidNotRemoveParticipant"
    assert failed.data.code == 404
    assert [p.uri for p in room.participants] == [f"sip:alice@{DOMAIN}"]
    alice.end()
    events.wait(sent_by(alice, "SIPSessionDidEnd"))


def got_chat(events: Recorder, stream: ChatStream, text: str) -> Any:
    return events.wait(lambda n: n.name == "ChatStreamGotMessage" and n.sender is stream
                       and n.data.message.content == text.encode())


def test_chat_is_relayed_between_participants(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder) -> None:
    chats: dict[str, ChatStream] = {}
    for name in ("alice", "bob", "carol"):
        session = Session(accounts[name])
        chats[name] = ChatStream(accounts[name])
        session.connect(ToHeader(room.uri), [route()], [AudioStream(accounts[name]),
                                                       chats[name]])
        events.wait(sent_by(session, "SIPSessionDidStart"))
    wait_until(lambda: len(room.participants) == 3 and all(p.chat for p in room.participants),
               "not every participant joined with a chat")

    chats["alice"].send_message("hello all")
    for name in ("bob", "carol"):
        message = got_chat(events, chats[name], "hello all").data.message
        assert str(message.sender.uri) == f"sip:alice@{DOMAIN}"
        assert [str(r.uri) for r in message.recipients] == [str(room.uri)]

    # a private message to bob (RFC 7701: the room's a=chatroom offers private-messages)
    assert "private-messages" in chats["alice"].chatroom_capabilities
    chats["alice"].send_message("just bob", recipients=[ChatIdentity(SIPURI.parse(
        f"sip:bob@{DOMAIN}"))])
    message = got_chat(events, chats["bob"], "just bob").data.message
    assert str(message.sender.uri) == f"sip:alice@{DOMAIN}"
    assert [str(r.uri) for r in message.recipients] == [f"sip:bob@{DOMAIN}"]
    chats["alice"].send_message("after")  # relayed in order after the private one
    got_chat(events, chats["carol"], "after")
    got_chat(events, chats["bob"], "after")
    texts = {name: [n.data.message.content for n in events.named("ChatStreamGotMessage")
                    if n.sender is chats[name]] for name in chats}
    assert texts == {"alice": [], "bob": [b"hello all", b"just bob", b"after"],
                     "carol": [b"hello all", b"after"]}

    # nicknames (RFC 7701 NICKNAME): one each, unique in the room
    asked = chats["alice"].set_local_nickname("Ali")
    events.wait(lambda n: n.name == "ChatStreamDidSetNickname" and n.data.message_id == asked)
    wait_until(lambda: {p.nickname for p in room.participants} >= {"Ali"},
               "the room did not keep alice's nickname")
    asked = chats["carol"].set_local_nickname("ali")
    refused = events.wait(lambda n: n.name == "ChatStreamDidNotSetNickname"
                          and n.data.message_id == asked)
    assert refused.data.code == 425

    chats["bob"].send_composing_indication("active", refresh=60)
    for name in ("alice", "carol"):
        typing = events.wait(lambda n, s=chats[name]: n.sender is s  # type: ignore[misc]
                             and n.name == "ChatStreamGotComposingIndication")
        assert typing.data.state == "active" and typing.data.refresh == 60
        assert str(typing.data.sender.uri) == f"sip:bob@{DOMAIN}"
    assert not [n for n in events.named("ChatStreamGotComposingIndication")
                if n.sender is chats["bob"]]
    for stream in chats.values():
        stream.session.end()
        events.wait(sent_by(stream.session, "SIPSessionDidEnd"))


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Baresip]:
    directory = tmp_path / "baresip"
    directory.mkdir()
    peer = Baresip(directory, "PCMU", None, TONES["alice"])  # baresip plays alice's tone
    yield peer
    peer.stop()


@needs_baresip
def test_baresip_is_a_participant_whose_audio_is_mixed(
        accounts: dict[str, Account], events: Recorder, baresip: Baresip,
        tmp_path: Path) -> None:
    """baresip dials the room (on its own, as any softphone): it hears bob and carol
    and not itself; they hear it and each other."""
    room = ConferenceRoom(accounts["host"], "sip:room@127.0.0.1")
    room.start()
    try:
        legs = {name: join(events, accounts[name], room) for name in ("bob", "carol")}
        baresip.command("dial", f"sip:room@127.0.0.1:{route().port}")
        wait_until(lambda: len(room.participants) == 3, f"baresip did not join: {baresip.log()}")
        [peer] = [p for p in room.participants if "baresip" in p.uri]
        assert peer.audio == "sendrecv"

        tones = []
        for name, (_session, stream) in legs.items():
            tone = TonePlayer(stream.mixer, [TONES[name]], volume=30)
            tone.start()
            stream.mixer.connect(tone, stream)
            tones.append(tone)
        try:
            for name, (_session, stream) in legs.items():
                stream.start_recording(str(tmp_path / f"{name}.wav"))
            starts = {name: received(stream) for name, (_s, stream) in legs.items()}
            wait_until(lambda: all(received(stream) >= starts[name] + 150
                                   for name, (_s, stream) in legs.items()), "no RTP arrived")
            for _session, stream in legs.values():
                stream.stop_recording()
            baresip.command("hangup")
            wait_until(lambda: len(room.participants) == 2, "baresip did not leave")
        finally:
            for tone in tones:
                tone.stop()

        heard = spectrum_peaks(baresip.decoded())
        assert heard[TONES["alice"]] < 0.05, heard  # not its own tone (it would be ~1)
        assert heard[TONES["bob"]] > 0.3 and heard[TONES["carol"]] > 0.3, heard
        for name in legs:
            levels = spectrum_peaks(tmp_path / f"{name}.wav")
            other = "carol" if name == "bob" else "bob"
            assert levels[TONES["alice"]] > 0.3, (name, levels)  # baresip
            assert levels[TONES[other]] > 0.3, (name, levels)
            assert levels[TONES[name]] < 0.05, (name, levels)
        for session, _stream in legs.values():
            session.end()
            events.wait(sent_by(session, "SIPSessionDidEnd"))
    finally:
        room.stop()


@needs_sipp
def test_a_sipp_participant_gets_its_hostile_requests_refused(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder,
        sipp: SIPp) -> None:
    """SIPp joins, REFERs what the room does not do (501, 404, 400), subscribes to
    another event package (489), then to the conference: a full document with it."""
    process = sipp.start(scenario("conference_room_participant.xml", sipp.workdir),
                         remote=f"127.0.0.1:{route().port}", service="room", timeout=30)
    finished(process, sipp)
    joined = events.wait(lambda n: n.name == "ConferenceRoomParticipantDidJoin")
    assert joined.data.participant.uri == "sip:sipp@127.0.0.1"
    events.wait(lambda n: n.name == "ConferenceRoomParticipantDidLeave")
    assert not room.participants
    assert not events.named("ConferenceRoomDidAddParticipant")


def test_a_held_participant_is_inactive_and_stopping_the_room_ends_every_call(
        accounts: dict[str, Account], room: ConferenceRoom, events: Recorder) -> None:
    alice, _ = join(events, accounts["alice"], room)
    bob, _ = join(events, accounts["bob"], room)
    sees(events, bob, {f"sip:alice@{DOMAIN}", f"sip:bob@{DOMAIN}"})
    alice.hold()
    events.wait(lambda n: n.name == "SIPSessionGotConferenceInfo" and n.sender is bob
                and _media_status(n, f"sip:alice@{DOMAIN}") == "inactive")
    changed = events.wait(lambda n: n.name == "ConferenceRoomParticipantDidChange")
    assert changed.data.participant.audio == "inactive"

    room.stop()
    for session in (alice, bob):
        ended = events.wait(sent_by(session, "SIPSessionDidEnd"))
        assert ended.data.originator == "remote"
    events.wait(lambda n: n.name == "ConferenceRoomDidEnd" and n.sender is room)
    assert room.state == "ended"
    status = get_bus().call("signalling", "status")
    assert not any(claim["aor"].startswith("sip:room@") for claim in status["accounts"])


def test_the_room_is_back_on_a_new_signalling_service(
        supervised: Path, events: Recorder) -> None:
    """SIGKILL of the signalling service (supervisord starts another): the room's call
    ends with it, the room claims its URI on the new instance and takes calls again."""
    with facade(["host", "alice"]) as accounts:
        room = ConferenceRoom(accounts["host"], "sip:room@127.0.0.1")
        room.start()
        try:
            alice, _ = join(events, accounts["alice"], room)
            # the bus client knows this instance, so that it takes the next for a restart
            wait_until(lambda: bool(get_bus().state["signalling"].instance),
                       "signalling never answered a heartbeat")
            pid = get_bus().ping("signalling")["pid"]
            os.kill(pid, signal.SIGKILL)
            events.wait(sent_by(alice, "SIPSessionDidEnd"), timeout=30)
            events.wait(lambda n: n.name == "ServiceDidRestart"
                        and n.data.service == "signalling", timeout=30)
            wait_until(lambda: "sip:room@127.0.0.1" in {
                c["aor"] for c in get_bus().call("signalling", "status")["accounts"]},
                "the room did not claim its URI again", timeout=15)
            wait_until(lambda: not room.participants, "alice stayed in the room")
            again, _ = join(events, accounts["alice"], room)
            wait_until(lambda: len(room.participants) == 1, "alice did not join again")
            again.end()
            events.wait(sent_by(again, "SIPSessionDidEnd"))
        finally:
            room.stop()


def test_a_room_uri_is_one_rooms(accounts: dict[str, Account], room: ConferenceRoom,
                                 events: Recorder) -> None:
    other = ConferenceRoom(accounts["alice"], room.uri)
    with pytest.raises(ValueError, match="another room"):
        other.start()
    assert other.state == "ended"
    alice, _ = join(events, accounts["alice"], room)  # the first room still has it
    wait_until(lambda: len(room.participants) == 1, "alice did not join")
    alice.end()
    events.wait(sent_by(alice, "SIPSessionDidEnd"))
