"""Media workers: where the facade puts streams, and what a worker's death takes down.

The placement rule on its own first (pure code over a bus client that is not
started), then calls between two accounts of this process through real
services under supervisord with two media workers ("media" and "media-1"):
streams spread over both, a call's streams stay on one, SIGKILL of a worker
ends only the calls it carried (with a reason), supervisord restarts it and
new calls use it again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.audio import wait_until
from harness.notifications import Recorder
from harness.sessions import facade

from sipsimple import media_workers
from sipsimple.account import Account
from sipsimple.audio import AudioBridge, AudioMixer, WaveRecorder, place_stream
from sipsimple.bus.client import BusClient, get_bus
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.session import Session
from sipsimple.streams import AudioStream

DOMAIN = "sip.test"
WORKERS = ("media", "media-1")


# --- the rule, without services ---------------------------------------------------------


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch, runtime: Path) -> Iterator[BusClient]:
    """A bus client of two workers that both answered just now (it is not started)."""
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")
    monkeypatch.setattr(media_workers, "STALE_AFTER", 1e9)  # never stale while the test runs
    client = BusClient(post_notifications=False)
    assert media_workers.workers(client) == WORKERS
    for worker in WORKERS:
        client.state[worker].available = True
        client.state[worker].last_seen = time.monotonic()
    media_workers.reset()
    yield client
    media_workers.reset()


def test_least_loaded_counts_our_streams_and_the_other_clients(bus: BusClient) -> None:
    assert media_workers.least_loaded(bus) == "media"  # equals: the first
    media_workers.remember("s1", "media", stream=True)
    assert media_workers.least_loaded(bus) == "media-1"
    media_workers.remember("s2", "media-1", stream=True)
    media_workers.remember("p1", "media-1", stream=False)  # a port is no stream
    assert media_workers.least_loaded(bus) == "media"
    # another client's 3 streams on "media" (the worker's heartbeat says so)
    bus.state["media"].load = {"streams": 4, "yours": 1}
    assert media_workers.load(bus, "media") == 4
    assert media_workers.least_loaded(bus) == "media-1"
    media_workers.forget("s1")
    assert media_workers.load(bus, "media") == 3
    assert media_workers.worker_of({"source": "voice-device", "sink": "s2"}) == "media-1"
    assert media_workers.worker_of({"stream_id": "unknown"}) == "media"
    assert sorted(media_workers.forget_worker("media-1")) == ["p1", "s2"]
    assert media_workers.worker_of({"port_id": "p1"}) == "media"


def test_a_restart_forgets_only_what_the_instances_before_made(bus: BusClient) -> None:
    media_workers.remember("old", "media-1", stream=True, instance="i1")
    media_workers.remember("new", "media-1", stream=True, instance="i2")  # made since
    media_workers.remember("first", "media", stream=True, instance="j1")
    media_workers.creating("coming", "media-1")
    assert media_workers.known_on("media-1") == {"old", "new", "coming"}
    assert media_workers.forget_worker("media-1", "i2") == ["old"]
    assert media_workers.load(bus, "media-1") == 1
    assert media_workers.worker_of({"stream_id": "new"}) == "media-1"
    media_workers.created("coming")  # its create failed: not remembered
    assert media_workers.known_on("media-1") == {"new"}
    assert media_workers.known_on("media") == {"first"}


def test_a_silent_or_unanswering_worker_gets_no_new_stream(
    bus: BusClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    media_workers.remember("s1", "media", stream=True)
    media_workers.unanswered("media-1")
    assert media_workers.least_loaded(bus) == "media"
    bus.state["media-1"].last_seen = time.monotonic() + 1  # it answered a heartbeat since
    assert media_workers.least_loaded(bus) == "media-1"
    monkeypatch.setattr(media_workers, "STALE_AFTER", 0.5)  # both silent since
    for worker in WORKERS:
        bus.state[worker].last_seen = time.monotonic() - 1
    assert media_workers.least_loaded(bus) == "media"  # none answers: the first (it fails)
    bus.state["media"].last_seen = 0.0  # never asked: trusted to run
    bus.state["media-1"].last_seen = 0.0
    media_workers.remember("s2", "media-1", stream=True)
    media_workers.remember("s3", "media-1", stream=True)
    assert media_workers.least_loaded(bus) == "media"


class _Stream:
    """What `place_stream` reads of a stream: its mixer and its bridge."""

    def __init__(self, mixer: AudioMixer) -> None:
        from sipsimple.audio import AudioDevice

        self.mixer = mixer
        self.mixer_chosen = False
        self.bridge = AudioBridge(mixer)
        self.bridge._ports.append(AudioDevice(mixer))  # as AudioStream's, without the bus


def test_placement_rule(bus: BusClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import sipsimple.audio

    monkeypatch.setattr(sipsimple.audio, "get_bus", lambda: bus)
    session = Session.__new__(Session)
    media_workers.remember("s1", "media", stream=True)
    mixer, by_load = place_stream(_Stream(AudioMixer()), session)  # type: ignore[arg-type]
    assert (mixer, by_load) == (AudioMixer("voice", "media-1"), True)
    media_workers.placed(session, "media-1")
    media_workers.remember("s2", "media-1", stream=True)
    media_workers.remember("s3", "media-1", stream=True)
    # the session's next stream joins its first, whatever the load
    assert place_stream(_Stream(AudioMixer()), session)[0].worker == "media-1"  # type: ignore[arg-type]
    # a mixer the application chose stays, the first worker's too
    chosen = AudioMixer("voice", "media-1")
    assert place_stream(_Stream(chosen), None) == (chosen, False)  # type: ignore[arg-type]
    first = _Stream(AudioMixer())
    first.mixer_chosen = True
    assert place_stream(first, None) == (AudioMixer(), False)  # type: ignore[arg-type]
    # something else in the stream's bridge: it stays with the application's mixer
    stream = _Stream(AudioMixer())
    stream.bridge._ports.append(WaveRecorder(AudioMixer(), "/tmp/x.wav"))
    assert place_stream(stream, None) == (AudioMixer(), False)  # type: ignore[arg-type]
    # heard on a sound card: the first worker
    media_workers.set_devices_in_use({"input": "null", "output": "Built-in Output"})
    assert media_workers.sound_card_in_use()
    assert place_stream(_Stream(AudioMixer()), None) == (AudioMixer(), False)  # type: ignore[arg-type]
    media_workers.set_devices_in_use({"input": "null", "output": "null", "alert": "x"})
    assert place_stream(_Stream(AudioMixer()), None)[0].worker == "media"  # type: ignore[arg-type]


def test_bridges_refuse_ports_of_another_worker() -> None:
    bridge = AudioBridge(AudioMixer())
    other = WaveRecorder(AudioMixer("voice", "media-1"), "/tmp/x.wav")
    with pytest.raises(ValueError, match="media-1"):
        bridge.add(other)
    with pytest.raises(ValueError, match="no media worker"):
        AudioMixer("voice", "signalling")


# --- through the services ---------------------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, runtime: Path) -> Iterator[Path]:
    """Every service under supervisord, with two media workers."""
    from sipsimple import supervision

    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")
    monkeypatch.setenv("SIPSIMPLE_CLIENT_TIMEOUT", "3")
    supervision.start()
    try:
        yield runtime
    finally:
        supervision.stop()


@pytest.fixture
def accounts(workers: Path) -> Iterator[dict[str, Account]]:
    def pcmu(account: Account) -> None:
        account.rtp.audio_codec_list = ("PCMU",)

    with facade(["alice", "bob"], configure=pcmu) as created:
        yield created


def call(events: Recorder, caller: Account, streams: int = 1, on: str | None = None
         ) -> tuple[Session, list[AudioStream], Session, list[AudioStream]]:
    """A call to bob, both ends' streams on worker `on` if given, else placed."""
    ports = get_bus().call("signalling", "get_transports")
    seen = {id(n) for n in events.named("SIPSessionNewIncoming")}
    session = Session(caller)
    ours = [AudioStream(caller) for _ in range(streams)]
    if on is not None:
        for stream in ours:
            stream.mixer = AudioMixer("voice", on)
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], list(ours))
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming" and id(n) not in seen)
    answering: Session = new.sender
    theirs = list(new.data.streams)
    if on is not None:
        for stream in theirs:
            stream.mixer = AudioMixer("voice", on)
    answering.accept(theirs)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is answering)
    return session, ours, answering, theirs


def received(stream: AudioStream) -> int:
    return int(stream.statistics.get("packets_received", 0))


def flowing(*streams: AudioStream) -> None:
    marks = [received(s) for s in streams]
    wait_until(lambda: all(received(s) > m + 5 for s, m in zip(streams, marks, strict=True)),
               "RTP does not flow on every stream")


def worker_streams() -> dict[str, int]:
    return {w: int(get_bus().ping(w)["load"]["streams"]) for w in WORKERS}


@pytest.mark.integration
def test_streams_spread_and_a_call_stays_on_one_worker(accounts: dict[str, Account],
                                                       events: Recorder) -> None:
    calls = [call(events, accounts["alice"]) for _ in range(3)]
    streams = [s for c in calls for s in (*c[1], *c[3])]
    placed = Counter(s.mixer.worker for s in streams)
    assert placed == {"media": 3, "media-1": 3}  # alternately: each time the less loaded
    assert worker_streams() == placed
    flowing(*streams)
    # two streams of one session: both on its worker, and so are the answer's two
    two, ours, _answering, theirs = call(events, accounts["alice"], streams=2)
    assert len({s.mixer.worker for s in ours}) == 1
    assert len({s.mixer.worker for s in theirs}) == 1
    flowing(*ours, *theirs)
    # a stream's recorder goes where the stream is (it is in the stream's bridge)
    recorded = next(s for s in streams if s.mixer.worker == "media-1")
    recorded.start_recording(str(Path(os.environ["SIPSIMPLE_STATE_DIR"]) / "one.wav"))
    assert get_bus().ping("media-1")["load"]["ports"] == 1
    recorded.stop_recording()
    for ending in [c[0] for c in calls] + [two]:
        ending.end()
        events.wait(lambda n, s=ending: n.name == "SIPSessionDidEnd" and n.sender is s)  # type: ignore[misc]
    wait_until(lambda: worker_streams() == {"media": 0, "media-1": 0}, "streams left over")


@pytest.mark.integration
def test_a_dead_worker_ends_only_its_calls_and_is_used_again(
    accounts: dict[str, Account], events: Recorder
) -> None:
    calls = {worker: call(events, accounts["alice"], on=worker) for worker in WORKERS}
    for worker, (_, ours, _, theirs) in calls.items():
        assert [s.mixer.worker for s in (*ours, *theirs)] == [worker, worker]
    flowing(*(s for c in calls.values() for s in (*c[1], *c[3])))

    os.kill(get_bus().ping("media-1")["pid"], signal.SIGKILL)
    session, ours, answering, theirs = calls["media-1"]
    for stream in (*ours, *theirs):
        failed = events.wait(lambda n, s=stream: n.name == "MediaStreamDidFail"  # type: ignore[misc]
                             and n.sender is s, timeout=30)
        assert "media-1" in failed.data.reason
    for ended in (session, answering):
        end = events.wait(lambda n, s=ended: n.name in ("SIPSessionDidEnd", "SIPSessionDidFail")  # type: ignore[misc]
                          and n.sender is s)
        assert end.name == "SIPSessionDidEnd"
    # the other worker's call went on
    survivor, ours, answering, theirs = calls["media"]
    assert survivor.state == answering.state == "connected"
    assert not [n for n in events.named("MediaStreamDidFail")
                if n.sender in (*ours, *theirs)]
    flowing(*ours, *theirs)

    # supervisord restarted it; the next calls go there (it holds nothing now)
    wait_until(lambda: media_workers.usable(get_bus(), "media-1"), "media-1 not back",
               timeout=30)
    session, ours, answering, theirs = call(events, accounts["alice"])
    assert [s.mixer.worker for s in (*ours, *theirs)] == ["media-1", "media-1"]
    flowing(*ours, *theirs)
    assert worker_streams() == {"media": 2, "media-1": 2}
    for ending in (session, survivor):
        ending.end()
        events.wait(lambda n, s=ending: n.name == "SIPSessionDidEnd" and n.sender is s)  # type: ignore[misc]
    wait_until(lambda: worker_streams() == {"media": 0, "media-1": 0}, "streams left over")


@pytest.mark.integration
def test_an_end_that_fails_still_forgets_the_stream(spawn_service: Any) -> None:
    """A stream the worker no longer has (ended behind the facade's back) is not
    counted in the worker's load after the facade's own end fails."""
    from sipsimple.audio import AudioError, media_call

    spawn_service("sipsimple_services.media", "media")
    media_workers.reset()
    stream_id = media_call("create_stream", worker="media", address="127.0.0.1")["stream_id"]
    assert media_workers.load(get_bus(), "media") == 1
    get_bus().call("media", "end_stream", stream_id=stream_id)  # not through the facade
    assert media_workers.load(get_bus(), "media") == 1
    with pytest.raises(AudioError, match="end_stream"):
        media_call("end_stream", stream_id=stream_id)
    assert media_workers.load(get_bus(), "media") == 0


class _HeldRestart:
    """Holds the bus thread in the first `ServiceDidRestart` of `worker` until the test
    lets it go: the facade hears of the restart only then. (An observer of the bus
    client's own notifications runs before the observers of every sender's, so
    before the facade's media objects hear of it.)"""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.seen = threading.Event()
        self.release = threading.Event()

    def handle_notification(self, notification: Notification) -> None:
        if notification.data.service == self.worker and not self.seen.is_set():
            self.seen.set()
            self.release.wait(10)  # the worker's clients time out after 3 s of silence


@pytest.mark.integration
def test_a_stream_the_restarted_worker_made_before_the_facade_heard_of_it_lives_and_ends(
    accounts: dict[str, Account], events: Recorder
) -> None:
    """What bench/soak.py --kill left behind with two workers: streams the new instance
    of a SIGKILLed worker made in the second before the facade's heartbeat told
    of the restart were taken for the old one's (lost, their calls failed) and
    forgotten, so their end_stream went to the first worker and they stayed."""
    # a call going on, as in the soak (the facade's media objects watch for restarts)
    other, *_ = call(events, accounts["alice"], on="media")
    ports = get_bus().call("signalling", "get_transports")
    held = _HeldRestart("media-1")
    center = NotificationCenter()
    center.add_observer(held, name="ServiceDidRestart", sender=get_bus())
    alice = Session(accounts["alice"])
    ours = AudioStream(accounts["alice"])
    ours.mixer = AudioMixer("voice", "media-1")
    running = get_bus().ping("media-1")
    # the facade's heartbeat knows this instance: the next one is a restart to it
    wait_until(lambda: get_bus().state["media-1"].instance == running["instance"],
               "no heartbeat answered by media-1")
    try:
        os.kill(running["pid"], signal.SIGKILL)
        assert held.seen.wait(30), "media-1 was not restarted"
        # the new instance runs and the facade has not heard of it: a call placed there
        alice.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                      [Route("127.0.0.1", ports["udp"], "udp")], [ours])
        events.wait(lambda n: n.name == "MediaStreamDidInitialize" and n.sender is ours)
    finally:
        held.release.set()
        center.discard_observer(held, name="ServiceDidRestart", sender=get_bus())
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming" and n.sender.call_id
                      == alice.call_id)
    bob: Session = new.sender
    theirs = list(new.data.streams)
    theirs[0].mixer = AudioMixer("voice", "media-1")
    bob.accept(theirs)
    for session in (alice, bob):
        started = events.wait(lambda n, s=session: n.name in (  # type: ignore[misc]
            "SIPSessionDidStart", "SIPSessionDidFail", "SIPSessionDidEnd") and n.sender is s)
        assert started.name == "SIPSessionDidStart", started.data.__dict__
    assert not events.named("MediaStreamDidFail")
    flowing(ours, *theirs)
    assert worker_streams() == {"media": 2, "media-1": 2}
    for session in (alice, other):
        session.end()
        events.wait(lambda n, s=session: n.name == "SIPSessionDidEnd" and n.sender is s)  # type: ignore[misc]
    wait_until(lambda: worker_streams() == {"media": 0, "media-1": 0}, "streams left over")


@pytest.mark.integration
def test_a_create_that_got_no_answer_in_time_leaves_nothing_on_the_worker(
    spawn_service: Any
) -> None:
    """A worker that carries out a create after the facade stopped waiting (stopped
    here, as a busy or just restarted one is slow): the facade ends the object by
    the id it chose, and the worker refuses the create if that end came first."""
    from sipsimple.audio import AudioError, media_call

    worker = spawn_service("sipsimple_services.media", "media")
    media_workers.reset()
    get_bus().ping("media")  # this thread's connection is up: the create goes out on it
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        with pytest.raises(AudioError, match="did not answer"):
            media_call("create_stream", worker="media", address="127.0.0.1")
        assert media_workers.known_on("media") == set()
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    # The create went on this thread's connection, the end on the bus thread's; each
    # connection's requests are answered in order: after these two, both were handled.
    get_bus().ping("media")
    get_bus().call_async("media", "ping").result(15)
    assert get_bus().call("media", "owned") == {"streams": [], "ports": []}
    assert get_bus().call("media", "resources")["objects"]["streams"] == 0


@pytest.mark.integration
def test_reconcile_ends_only_what_no_facade_object_knows(spawn_service: Any) -> None:
    from sipsimple.audio import media_call, reconcile

    spawn_service("sipsimple_services.media", "media")
    media_workers.reset()
    known = media_call("create_stream", worker="media", address="127.0.0.1")["stream_id"]
    port = media_call("create_port", worker="media", kind="tone",
                      params={"frequencies": [440]})["port_id"]
    # made by this client behind the facade's back (as a create it stopped waiting for)
    stray = get_bus().call("media", "create_stream", address="127.0.0.1")["stream_id"]
    stray_port = get_bus().call("media", "create_port", kind="tone",
                                params={"frequencies": [440]})["port_id"]
    assert sorted(reconcile("media")) == sorted([stray, stray_port])
    assert get_bus().call("media", "owned") == {"streams": [known], "ports": [port]}
    assert reconcile("media") == []
    media_call("end_stream", worker="media", stream_id=known)
    media_call("destroy_port", worker="media", port_id=port)
