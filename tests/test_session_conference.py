"""The facade's ConferenceHandler against a SIPp focus, and its NOTIFY check alone.

Two SIPps play the conference focus (RFC 4579). One answers our INVITE with
an `isfocus` Contact and takes our REFERs in that dialog; the Contact names
the other's port, so the conference SUBSCRIBE (a new request to the focus
URI) goes to the other, the focus's notifier, which sends conference-info
NOTIFYs (RFC 4575): good ones (full, then partial) or hostile ones. (A SIPp
answering calls cannot run an out-of-call scenario for the SUBSCRIBE, and
the call's Record-Route keeps our in-dialog requests with the first SIPp.)
"""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.sessions import facade, route, sent_by, session_services
from harness.signalling import finished
from harness.sipp import SIPp, needs_sipp, scenario
from harness.streams import ProbeStream
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.account import Account
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification
from sipsimple.payloads.conference import Conference
from sipsimple.session import ConferenceHandler, Session
from sipsimple.session.conference import CONTENT_TYPE, check_notify

NS = "urn:ietf:params:xml:ns:conference-info"
CAROL = SIPURI(user="carol", host="127.0.0.1")


# --- check_notify: one NOTIFY body against the state (pure) ---------------------------


def document(version: int, state: str = "full", users: str = "") -> bytes:
    return (f'<conference-info xmlns="{NS}" entity="sip:conf@127.0.0.1" state="{state}" '
            f'version="{version}"><users state="{state}">{users}</users>'
            "</conference-info>").encode()


def test_a_full_document_then_a_partial_one_merge() -> None:
    first = check_notify(None, document(1, users='<user entity="sip:a@x"/>'), CONTENT_TYPE)
    assert first.problem is None and first.state is not None
    second = check_notify(first.state, document(2, "partial", '<user entity="sip:b@x"/>'),
                          CONTENT_TYPE + ";charset=UTF-8")
    assert second.state is not None and second.problem is None
    assert [u.entity for u in second.state.users or ()] == ["sip:a@x", "sip:b@x"]
    assert second.state.version == 2


def test_a_notify_without_a_body_changes_nothing() -> None:
    assert check_notify(None, b"", CONTENT_TYPE) == check_notify(None, None, None)
    assert check_notify(None, b"", None).state is None


@pytest.mark.parametrize(("body", "content_type", "words"), [
    (document(1), "application/xml", "content type"),
    (b"<conference-info", CONTENT_TYPE, "malformed"),
    (b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa">]><c>&a;</c>', CONTENT_TYPE,
     "unsafe"),
    (b'<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><c>&x;</c>', CONTENT_TYPE,
     "unsafe"),
    (document(1).replace(b"</users>", b"</users>" + b" " * (10 * 1024 * 1024)), CONTENT_TYPE,
     "over"),
])
def test_hostile_or_foreign_bodies_are_refused_with_a_reason(
        body: bytes, content_type: str, words: str) -> None:
    outcome = check_notify(None, body, content_type)
    assert outcome.state is None and not outcome.resubscribe
    assert outcome.problem is not None and words in outcome.problem


def test_a_stale_document_is_dropped_and_a_gap_asks_for_a_new_subscription() -> None:
    current = check_notify(None, document(3), CONTENT_TYPE).state
    stale = check_notify(current, document(3, "partial"), CONTENT_TYPE)
    assert stale.state is None and not stale.resubscribe and "stale" in (stale.problem or "")
    gap = check_notify(current, document(5, "partial"), CONTENT_TYPE)
    assert gap.state is None and gap.resubscribe
    early = check_notify(None, document(1, "partial"), CONTENT_TYPE)
    assert early.resubscribe  # a partial document before any full one


@given(st.one_of(st.none(), st.binary(max_size=2000), st.sampled_from([
    document(1), document(2, "partial"), b"<conference-info/>", b"<?xml version='1.0'?>"])),
    st.one_of(st.none(), st.sampled_from([CONTENT_TYPE, "text/plain", ""]), st.text()))
def test_any_body_gives_an_outcome_never_an_exception(body: bytes | None,
                                                      content_type: str | None) -> None:
    for current in (None, check_notify(None, document(1), CONTENT_TYPE).state):
        outcome = check_notify(current, body, content_type)
        assert outcome.state is None or outcome.problem is None
        assert not outcome.resubscribe or outcome.state is None


# --- against SIPp as the focus ----------------------------------------------------------

integration = [pytest.mark.integration, needs_sipp]


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    session_services(spawn_service)
    with facade(["alice", "bob"]) as created:
        yield created


@dataclass
class Focus:
    call: subprocess.Popen[bytes]
    port: int
    notifier: subprocess.Popen[bytes]

    def finished(self, sipp: SIPp) -> None:
        """Both SIPps ran their scenarios to the end (the notifier's: our unsubscription)."""
        finished(self.call, sipp)
        finished(self.notifier, sipp)


def focus(sipp: SIPp, main: str, notifier: str, subscriptions: int = 1) -> Focus:
    """SIPp as a focus: `main` answers the call, `notifier` takes the SUBSCRIBE(s)."""
    notifier_process, notifier_port = sipp.start_uas(
        scenario(notifier, sipp.workdir), timeout=60, keys={"lb": "[", "rb": "]"},
        calls=subscriptions)
    call, port = sipp.start_uas(scenario(main, sipp.workdir, NOTIFIER_PORT=str(notifier_port),
                                         NOTIFIER_TRANSPORT="udp"), timeout=60)
    return Focus(call, port, notifier_process)


def call_focus(alice: Account, events: Recorder, port: int) -> Session:
    session = Session(alice)
    session.connect(ToHeader(SIPURI(user="conf", host="127.0.0.1", port=port)),
                    [Route("127.0.0.1", port, "udp")], [ProbeStream(alice)])
    events.wait(sent_by(session, "SIPSessionDidStart"))
    return session


def conference_infos(events: Recorder, session: Session) -> list[Notification]:
    return [n for n in events.seen if n.sender is session
            and n.name == "SIPSessionGotConferenceInfo"]


def nth(events: Recorder, session: Session, name: str, count: int) -> Notification:
    """The `count`th notification `name` of `session`, once it came."""
    def seen(_: Notification) -> bool:
        return len([n for n in events.seen if n.sender is session and n.name == name]) >= count
    events.wait(seen, 30)
    return [n for n in events.seen if n.sender is session and n.name == name][count - 1]


@pytest.mark.integration
@needs_sipp
def test_the_focus_state_merges_and_participants_come_and_go_by_refer(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    peer = focus(sipp, "conference_focus.xml", "conference_notifier.xml")
    session = call_focus(accounts["alice"], events, peer.port)
    assert session.remote_focus
    assert isinstance(session.conference, ConferenceHandler)

    full = nth(events, session, "SIPSessionGotConferenceInfo", 1).data.conference_info
    assert isinstance(full, Conference)
    assert full.version == 1 and full.conference_description is not None
    assert full.conference_description.subject == "Weekly"
    assert [u.entity for u in full.users or ()] == ["sip:alice@sip.test", "sip:bob@127.0.0.1"]
    merged = nth(events, session, "SIPSessionGotConferenceInfo", 2).data.conference_info
    assert merged.version == 2 and merged.state == "full"  # the merged state, not the partial
    assert [(u.entity, u.display_text) for u in merged.users or ()] == [
        ("sip:alice@sip.test", "Alice"), ("sip:carol@127.0.0.1", "Carol")]
    assert merged.conference_description.subject == "Weekly"  # kept from the full one
    assert session.conference.conference_info == merged

    session.conference.add_participant("sip:carol@127.0.0.1")
    added = events.wait(sent_by(session, "SIPConferenceDidAddParticipant"), 30)
    assert added.data.participant == CAROL
    progress = [(n.data.participant, n.data.code, n.data.reason) for n in events.seen
                if n.sender is session and n.name == "SIPConferenceGotAddParticipantProgress"]
    assert progress == [(CAROL, 100, "Trying"), (CAROL, 180, "Ringing")]

    session.conference.remove_participant(CAROL)
    refused = events.wait(sent_by(session, "SIPConferenceDidNotRemoveParticipant"), 30)
    assert (refused.data.participant, refused.data.code, refused.data.reason) == (
        CAROL, 486, "Busy Here")
    progress = [(n.data.code, n.data.reason) for n in events.seen if n.sender is session
                and n.name == "SIPConferenceGotRemoveParticipantProgress"]
    assert progress == [(100, "Trying")]
    assert not events.named("SIPConferenceDidRemoveParticipant")
    assert not events.named("SIPSessionTransferDidStart")  # not taken for a transfer
    assert session.state == "connected"

    session.end()
    events.wait(sent_by(session, "SIPSessionDidEnd"))
    peer.finished(sipp)  # the notifier got our unsubscription
    assert len(conference_infos(events, session)) == 2


@pytest.mark.integration
@needs_sipp
def test_a_focus_calling_us_gets_our_subscription_too(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    notifier, notifier_port = sipp.start_uas(scenario("conference_notifier.xml", sipp.workdir),
                                             timeout=60)
    call = sipp.start(
        scenario("conference_focus_calls.xml", sipp.workdir, NOTIFIER_PORT=str(notifier_port)),
        remote=f"127.0.0.1:{route('udp').port}", timeout=60)
    new = events.wait("SIPSessionNewIncoming", 20)
    session: Session = new.sender
    session.accept(new.data.streams)
    events.wait(sent_by(session, "SIPSessionDidStart"))
    assert session.remote_focus and isinstance(session.conference, ConferenceHandler)
    merged = nth(events, session, "SIPSessionGotConferenceInfo", 2).data.conference_info
    assert [u.entity for u in merged.users or ()] == ["sip:alice@sip.test", "sip:carol@127.0.0.1"]
    session.end()
    events.wait(sent_by(session, "SIPSessionDidEnd"))
    finished(call, sipp)
    finished(notifier, sipp)  # our unsubscription came


@pytest.mark.integration
@needs_sipp
def test_hostile_conference_bodies_are_logged_and_dropped_and_the_session_goes_on(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sipsimple.session.conference")
    peer = focus(sipp, "conference_focus_call.xml", "conference_notifier_hostile.xml")
    session = call_focus(accounts["alice"], events, peer.port)
    # the good document comes after the hostile ones, over the same subscription
    good = events.wait(sent_by(session, "SIPSessionGotConferenceInfo"), 30)
    assert [u.entity for u in good.data.conference_info.users or ()] == ["sip:alice@sip.test"]
    problems = [r.getMessage() for r in caplog.records
                if r.name == "sipsimple.session.conference"]
    assert len(problems) == 4, problems
    assert "malformed" in problems[0]
    assert "unsafe" in problems[1] and "unsafe" in problems[2]
    assert "content type 'text/html'" in problems[3]
    assert all("conference NOTIFY ignored" in p for p in problems)
    assert session.state == "connected"
    session.end()
    events.wait(sent_by(session, "SIPSessionDidEnd"))
    peer.finished(sipp)
    assert len(conference_infos(events, session)) == 1


@pytest.mark.integration
@needs_sipp
def test_a_version_gap_keeps_the_state_and_subscribes_again_until_it_gives_up(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sipsimple.session.conference")
    peer = focus(sipp, "conference_focus_call.xml", "conference_notifier_gap.xml",
                 subscriptions=4)
    session = call_focus(accounts["alice"], events, peer.port)
    finished(peer.notifier, sipp)  # 4 subscriptions, each unsubscribed after its gap
    infos = conference_infos(events, session)
    # each new subscription's first document is merged from nothing (versions restart)
    subjects = [n.data.conference_info.conference_description.subject for n in infos]
    assert subjects == [f"subscription {n}" for n in range(1, 5)]
    assert session.conference is not None
    assert session.conference.conference_info == infos[-1].data.conference_info
    messages = [r.getMessage() for r in caplog.records
                if r.name == "sipsimple.session.conference"]
    assert sum("version gap: 1 to 3" in m for m in messages) == 4, messages
    assert "lost 4 times in a row: giving up" in messages[-1]
    assert session.state == "connected"
    session.end()
    events.wait(sent_by(session, "SIPSessionDidEnd"))
    finished(peer.call, sipp)


# --- a 10 MB body: a raw TCP peer as the notifier (SIPp cannot send it) -----------------


def read_message(conn: socket.socket, buffer: bytearray) -> bytes:
    """One SIP message from the stream (headers, then Content-Length bytes of body)."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("closed before a whole message")
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    match = re.search(rb"\r\n(?:Content-Length|l)\s*:\s*(\d+)", bytes(buffer[:end]), re.I)
    length = int(match.group(1)) if match else 0
    while len(buffer) < end + length:
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("closed before the whole body")
        buffer += data
    message = bytes(buffer[:end + length])
    del buffer[:end + length]
    return message


def header(message: bytes, name: str) -> str:
    match = re.search(rf"\r\n{name}\s*:\s*([^\r\n]*)".encode(), message, re.I)
    assert match is not None, (name, message[:400])
    return match.group(1).decode()


class TCPNotifier:
    """The focus's conference notifier over TCP, written here to send a 10 MB NOTIFY.

    It answers our SUBSCRIBE 200, sends a NOTIFY whose body is 10 MB, then
    (on a new connection, as the service drops the one that carried it) a
    good NOTIFY, and answers any later SUBSCRIBE (our unsubscription) 200.
    The signalling service refuses the big one before the facade sees it
    (its stream parser's 1 MiB body limit; it logs "body too large,
    closing"); `check_notify` would refuse it too (the unit test above).
    """

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.good_answer: str | None = None
        self.answered = threading.Event()
        self.unsubscribed = threading.Event()
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tcp-notifier")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.server.close()

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:
            self.errors.append(exc)

    def _notify(self, subscribe: bytes, cseq: int, body: bytes) -> bytes:
        contact = re.search(r"<([^>]*)>", header(subscribe, "Contact"))
        assert contact is not None
        return (
            f"NOTIFY {contact.group(1)} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:{self.port};branch=z9hG4bKconf{cseq}x{time.time_ns()}\r\n"
            f"From: {header(subscribe, 'To')};tag=conf\r\n"
            f"To: {header(subscribe, 'From')}\r\n"
            f"Call-ID: {header(subscribe, 'Call-ID')}\r\n"
            f"CSeq: {cseq} NOTIFY\r\n"
            f"Contact: <sip:conf@127.0.0.1:{self.port};transport=tcp>\r\n"
            "Max-Forwards: 70\r\nEvent: conference\r\n"
            "Subscription-State: active;expires=600\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def _answer(self, conn: socket.socket, request: bytes) -> None:
        to = header(request, "To")
        conn.sendall((
            "SIP/2.0 200 OK\r\n"
            f"Via: {header(request, 'Via')}\r\nFrom: {header(request, 'From')}\r\n"
            f"To: {to}{'' if 'tag=' in to else ';tag=conf'}\r\n"
            f"Call-ID: {header(request, 'Call-ID')}\r\nCSeq: {header(request, 'CSeq')}\r\n"
            f"Contact: <sip:conf@127.0.0.1:{self.port};transport=tcp>\r\n"
            f"Expires: {header(request, 'Expires')}\r\nContent-Length: 0\r\n\r\n").encode())

    def _serve(self) -> None:
        self.server.settimeout(30)
        first, _ = self.server.accept()
        with first:
            first.settimeout(30)
            subscribe = read_message(first, bytearray())
            assert subscribe.startswith(b"SUBSCRIBE "), subscribe[:200]
            self._answer(first, subscribe)
            big = document(1).replace(b"</users>", b"</users>" + b" " * (10 * 1024 * 1024))
            try:
                first.sendall(self._notify(subscribe, 1, big))
                while first.recv(65536):  # whatever it answers, until it drops us
                    pass
            except OSError:
                pass  # dropped while we were still sending
        match = re.search(r"@([^:;>]+):(\d+)", header(subscribe, "Contact"))
        assert match is not None
        good = document(1, users='<user entity="sip:alice@sip.test"/>')
        with socket.create_connection((match.group(1), int(match.group(2))), 30) as second:
            second.sendall(self._notify(subscribe, 2, good))
            answer = read_message(second, bytearray())
            self.good_answer = answer.split(b"\r\n", 1)[0].decode()
            self.answered.set()
        while not self._stop.is_set():  # our unsubscription, on a connection of its own
            self.server.settimeout(0.2)
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(30)
                request = read_message(conn, bytearray())
                if request.startswith(b"SUBSCRIBE "):
                    self._answer(conn, request)
                    if header(request, "Expires") == "0":
                        self.unsubscribed.set()


@pytest.mark.integration
@needs_sipp
def test_a_10_mb_conference_body_is_refused_and_the_next_notify_is_taken(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    notifier = TCPNotifier()
    try:
        call, port = sipp.start_uas(scenario(
            "conference_focus_call.xml", sipp.workdir, NOTIFIER_PORT=str(notifier.port),
            NOTIFIER_TRANSPORT="tcp"), timeout=60)
        session = call_focus(accounts["alice"], events, port)
        info = events.wait(sent_by(session, "SIPSessionGotConferenceInfo"), 30)
        assert notifier.answered.wait(30), notifier.errors
        assert notifier.good_answer == "SIP/2.0 200 OK"
        assert info.data.conference_info.version == 1
        assert [u.entity for u in info.data.conference_info.users or ()] == [
            "sip:alice@sip.test"]
        assert session.state == "connected"
        session.end()
        events.wait(sent_by(session, "SIPSessionDidEnd"))
        finished(call, sipp)
        assert notifier.unsubscribed.wait(30), notifier.errors
        assert len(conference_infos(events, session)) == 1
        assert not notifier.errors
    finally:
        notifier.close()
