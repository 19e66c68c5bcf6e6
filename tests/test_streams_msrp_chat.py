"""ChatStream between two accounts through real services (signalling, dns, msrp).

alice calls bob with an MSRP-only chat through the signalling service's own
UDP address, both accounts in this process; the msrp service carries the
messages over TCP on loopback. Messages go both ways, wrapped in CPIM when
both sides accept it and plain when one does not, with delivery reports; a
message sent before the stream started is delivered after. With a
certificate (test CA) the msrp service makes the chat msrps (TCP/TLS/MSRP),
and refuses a certificate that names another host. Behind an RFC 4976
relay (Kamailio): both accounts with `nat_traversal.msrp_relay`, or without it
the relay their domain names in DNS (dnsmasq: SRV ``_msrp._tcp``); a domain
without one, or a nameserver that does not answer, leaves the chat direct.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from harness.audio import audio_services, wait_until
from harness.chat import by, chat, got
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.sessions import facade
from harness.tlsca import TestCA

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.configuration.datatypes import MSRPRelayAddress
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.payloads.cpim import CPIMMessage
from sipsimple.session import Session
from sipsimple.streams import AudioStream, ChatStream, ChatStreamError, MediaStreamRegistry
from sipsimple.streams.msrp import ChatMessage, choose_wrapping
from sipsimple.streams.msrp.relays import relays

pytestmark = pytest.mark.integration

DOMAIN = "sip.test"


class PlainChatStream(ChatStream):
    """A chat client that knows no CPIM (an application may define such a stream)."""

    priority: ClassVar[int | None] = None  # type: ignore[misc]  # kept out of the registry
    accept_types: ClassVar[list[str]] = ["text/*", "application/im-iscomposing+xml"]
    accept_wrapped_types: ClassVar[list[str]] = []


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service, msrp=True)


@pytest.fixture
def accounts(services: dict[str, Any]) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        yield created


def test_an_active_indication_without_a_refresh_lapses_to_idle(
        accounts: dict[str, Account], events: Recorder) -> None:
    # RFC 3994 4: the receiver turns "active" into "idle" once the refresh interval
    # passes with no new indication; a refresh in time keeps it active
    alice = accounts["alice"]
    stream = ChatStream(alice)
    session, _, theirs = chat(events, alice, stream)

    def indications() -> list[str]:
        return [n.data.state for n in events.seen
                if by(theirs, "ChatStreamGotComposingIndication")(n)]

    stream.send_composing_indication("active", 1)
    events.wait(lambda n: indications() == ["active", "idle"])
    idle = [n for n in events.seen if by(theirs, "ChatStreamGotComposingIndication")(n)][-1]
    assert idle.data.refresh is None and str(idle.data.sender.uri) == "sip:alice@sip.test"
    stream.send_composing_indication("active", 60)
    stream.send_composing_indication("idle")
    events.wait(lambda n: indications() == ["active", "idle", "active", "idle"])
    session.end()
    events.wait(by(theirs, "MediaStreamDidEnd"))
    assert indications() == ["active", "idle", "active", "idle"]  # no lapse after the end


def test_registered_as_the_chat_stream_type() -> None:
    assert MediaStreamRegistry.get("chat") is ChatStream
    assert PlainChatStream not in MediaStreamRegistry


def test_chat_both_ways_in_cpim(accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    stream = ChatStream(alice)
    early = stream.send_message("sent before the stream started")
    session, answering, theirs = chat(events, alice, stream)
    assert stream.remote_media is not None and "message/cpim" in stream.remote_media.accept_types
    assert stream.active and not theirs.active  # the offerer connects
    sdp = str(session.local_sdp)
    assert "m=message" in sdp and "TCP/MSRP *" in sdp and "a=setup:active" in sdp
    assert "a=accept-types:message/cpim text/* image/*" in sdp and "a=path:msrp://" in sdp
    assert "a=setup:passive" in str(answering.local_sdp)

    [first] = got(events, theirs)
    assert isinstance(first, CPIMMessage)
    assert first.content == b"sent before the stream started"
    assert str(first.sender.uri) == "sip:alice@sip.test" and first.timestamp is not None
    assert [str(r.uri) for r in first.recipients] == ["sip:bob@sip.test"]
    delivered = events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                            and n.data.message_id == early)
    assert delivered.data.code == 200
    assert [n.data.message_id for n in events.seen
            if by(stream, "ChatStreamDidSendMessage")(n)] == [early]

    sent = stream.send_message("<b>hi</b>", "text/html", subject="greetings")
    [_, second] = got(events, theirs, 2)
    assert second.content == b"<b>hi</b>" and second.content_type == "text/html"
    assert second.subject == "greetings"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == sent)

    reply = theirs.send_message("héllo alice")
    [back] = got(events, stream)
    assert isinstance(back, CPIMMessage) and back.content.decode() == "héllo alice"
    assert str(back.sender.uri) == "sip:bob@sip.test"
    events.wait(lambda n: by(theirs, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == reply)

    stream.send_composing_indication("active", 30)
    composing = events.wait(by(theirs, "ChatStreamGotComposingIndication"))
    assert composing.data.state == "active" and composing.data.refresh == 30
    assert str(composing.data.sender.uri) == "sip:alice@sip.test"

    session.end()
    events.wait(by(session, "SIPSessionDidEnd"))
    events.wait(by(answering, "SIPSessionDidEnd"))
    events.wait(by(theirs, "MediaStreamDidEnd"))
    with pytest.raises(ChatStreamError):
        stream.send_message("too late")
    status = get_bus().call("msrp", "status")
    assert not [s for s in status["sessions"]
                if s["session_id"] in (stream.msrp_session_id, theirs.msrp_session_id)]


def test_plain_messages_when_one_side_knows_no_cpim(
    accounts: dict[str, Account], events: Recorder
) -> None:
    alice = accounts["alice"]
    stream = PlainChatStream(alice)
    doomed = stream.send_message("queued with a subject", subject="needs CPIM")
    session, answering, theirs = chat(events, alice, stream)
    # decided once the peer's accept-types were known: no CPIM here, so it cannot go
    failed = events.wait(by(stream, "ChatStreamDidNotDeliverMessage"))
    assert failed.data.message_id == doomed and "CPIM" in failed.data.reason
    assert stream.remote_media is not None
    sdp = str(session.local_sdp)
    assert "a=accept-types:text/* application/im-iscomposing+xml" in sdp
    assert "accept-wrapped-types" not in sdp

    sent = stream.send_message("plain hello")
    [message] = got(events, theirs)  # the doomed one never went
    assert isinstance(message, ChatMessage)
    assert message.content == "plain hello" and message.content_type == "text/plain"
    assert str(message.sender.uri) == "sip:alice@sip.test"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == sent)

    theirs.send_message("plain reply")  # alice takes no CPIM: bob's goes plain
    [reply] = got(events, stream)
    assert isinstance(reply, ChatMessage) and reply.content == "plain reply"
    with pytest.raises(ChatStreamError):  # a subject needs CPIM
        theirs.send_message("x", subject="no")
    with pytest.raises(ChatStreamError):  # alice accepts no images
        theirs.send_message(b"\x89PNG", "image/png")
    theirs.send_composing_indication("idle")
    composing = events.wait(by(stream, "ChatStreamGotComposingIndication"))
    assert composing.data.state == "idle"

    answering.end()
    events.wait(by(session, "SIPSessionDidEnd"))


def test_queued_messages_fail_when_the_chat_never_starts(
    accounts: dict[str, Account], events: Recorder
) -> None:
    stream = ChatStream(accounts["alice"])
    queued = [stream.send_message("first, queued"), stream.send_message("second, queued")]
    ports = get_bus().call("signalling", "get_transports")
    session = Session(accounts["alice"])
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [stream])
    events.wait("SIPSessionNewIncoming").sender.reject(486)
    events.wait(by(session, "SIPSessionDidFail"))
    for message_id in queued:
        failed = events.wait(lambda n, m=message_id: by(stream, "ChatStreamDidNotDeliverMessage")(n)
                             and n.data.message_id == m)
        assert failed.data.code == 408 and "ended" in failed.data.reason
    assert not events.named("ChatStreamDidSendMessage")
    with pytest.raises(ChatStreamError):
        stream.send_message("after the end")


def test_queued_messages_fail_when_the_stream_ends_unused(events: Recorder) -> None:
    stream = ChatStream(None)
    queued = stream.send_message("never goes")
    stream.end()
    failed = events.wait(by(stream, "ChatStreamDidNotDeliverMessage"))
    assert failed.data.message_id == queued and failed.data.code == 408
    stream.end()  # once
    assert len(events.named("ChatStreamDidNotDeliverMessage")) == 1


def test_a_message_the_peer_refuses_is_reported_and_the_chat_goes_on(
    accounts: dict[str, Account], events: Recorder
) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, theirs = chat(events, accounts["alice"], stream)
    with pytest.raises(ChatStreamError, match="limit"):  # it cannot even cross the bus
        stream.send_message(b"x" * (1024 * 1024), "text/plain")
    # it crosses the bus to alice's msrp service, but bob's would keep 960 KiB at most
    too_large = stream.send_message(b"x" * (1000 * 1024), "text/plain")
    failed = events.wait(lambda n: by(stream, "ChatStreamDidNotDeliverMessage")(n)
                         and n.data.message_id == too_large)
    assert failed.data.code == 413
    fine = stream.send_message("a small one")
    [message] = got(events, theirs)  # the refused one never reached bob's application
    assert message.content == b"a small one"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == fine)
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


def test_chat_added_to_an_audio_call(accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    ports = get_bus().call("signalling", "get_transports")
    session = Session(alice)
    session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                    [Route("127.0.0.1", ports["udp"], "udp")], [AudioStream(alice)])
    new = events.wait("SIPSessionNewIncoming")
    answering: Session = new.sender
    answering.accept(new.data.streams)
    events.wait(by(session, "SIPSessionDidStart"))
    events.wait(by(answering, "SIPSessionDidStart"))

    stream = ChatStream(alice)
    session.add_stream(stream)
    proposal = events.wait(by(answering, "SIPSessionGotProposal"))
    [theirs] = proposal.data.streams
    assert type(theirs) is ChatStream
    answering.accept_proposal([theirs])
    events.wait(lambda n: by(session, "SIPSessionDidRenegotiateStreams")(n)
                and n.data.action == "add")
    events.wait(lambda n: by(answering, "SIPSessionDidRenegotiateStreams")(n)
                and n.data.action == "add")
    assert len(session.streams) == 2 and stream in session.streams
    sent = stream.send_message("chat during the call")
    [message] = got(events, theirs)
    assert message.content == b"chat during the call"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == sent)
    theirs.send_message("and back")
    assert got(events, stream)[0].content == b"and back"

    session.remove_stream(stream)
    for who in (session, answering):
        events.wait(lambda n, who=who: by(who, "SIPSessionDidRenegotiateStreams")(n)
                    and n.data.action == "remove")
    events.wait(by(theirs, "MediaStreamDidEnd"))
    wait_until(lambda: session.state == "connected", "the removal completes")
    assert len(session.streams) == 1
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


CPIM_PEER = {"remote_accept": ["message/cpim", "text/*"], "remote_wrapped": ["text/*", "image/*"]}


@pytest.mark.parametrize(("content_type", "needs_cpim", "local", "remote", "wrapped", "cpim"), [
    ("text/plain", False, ["message/cpim", "text/*"], *CPIM_PEER.values(), True),
    ("image/png", False, ["message/cpim"], *CPIM_PEER.values(), True),  # wrapped only
    ("text/plain", False, ["text/*"], *CPIM_PEER.values(), False),  # we take no CPIM
    ("text/plain", False, ["message/cpim"], ["text/plain"], ["*"], False),  # the peer neither
    ("text/plain", True, ["message/cpim"], *CPIM_PEER.values(), True),
])
def test_choose_wrapping(content_type: str, needs_cpim: bool, local: list[str],
                         remote: list[str], wrapped: list[str], cpim: bool) -> None:
    assert choose_wrapping(content_type, needs_cpim, local_accept=local, remote_accept=remote,
                           remote_wrapped=wrapped) is cpim


def test_choose_wrapping_prefers_plain_when_asked() -> None:
    assert choose_wrapping("text/plain", False, local_accept=["message/cpim"],
                           prefer_cpim=False, **CPIM_PEER) is False


@pytest.mark.parametrize(("content_type", "needs_cpim", "remote", "wrapped"), [
    ("image/png", False, ["text/*"], []),  # the peer takes it neither way
    ("text/plain", True, ["text/*"], []),  # CPIM fields, no CPIM
    ("application/pdf", True, ["message/cpim"], ["text/*"]),  # CPIM, not for this type
])
def test_choose_wrapping_refuses(content_type: str, needs_cpim: bool, remote: list[str],
                                 wrapped: list[str]) -> None:
    with pytest.raises(ChatStreamError):
        choose_wrapping(content_type, needs_cpim, local_accept=["message/cpim", "*"],
                        remote_accept=remote, remote_wrapped=wrapped)


def test_a_broken_connection_fails_the_streams_and_ends_the_call(
    accounts: dict[str, Account], events: Recorder
) -> None:
    alice = accounts["alice"]
    stream = ChatStream(alice)
    session, answering, theirs = chat(events, alice, stream)
    # bob's service session goes away under the stream (as a crash would)
    get_bus().call("msrp", "end_session", session_id=theirs.msrp_session_id)
    failed = events.wait(by(theirs, "MediaStreamDidFail"))
    assert failed.data.reason == "ended by the client"
    events.wait(by(session, "SIPSessionDidEnd"))
    events.wait(by(answering, "SIPSessionDidEnd"))
    # alice's side fails too, unless bob's BYE ended it first (both orders are right)
    assert [n.data.reason for n in events.seen if by(stream, "MediaStreamDidFail")(n)] in (
        [], ["the peer closed the connection"])
    assert not [n for n in events.seen if n.name == "SIPSessionDidFail"]


def tls_services(spawn_service: Callable[..., Any], tmp_path: Path,
                 **names: tuple[str, ...]) -> None:
    """The services, the msrp one with a certificate (for `names`) of a test CA."""
    audio_services(spawn_service)
    ca = TestCA(tmp_path)
    leaf = ca.issue("msrp", "msrp.test", **names)
    spawn_service("sipsimple_services.msrp", "msrp",
                  SIPSIMPLE_MSRP_TLS_CERTIFICATE=str(leaf.cert),
                  SIPSIMPLE_MSRP_TLS_PRIVATE_KEY=str(leaf.key),
                  SIPSIMPLE_MSRP_TLS_CA_FILE=str(ca.path))


def test_chat_over_tls(spawn_service: Callable[..., Any], tmp_path: Path,
                       events: Recorder) -> None:
    tls_services(spawn_service, tmp_path, ips=("127.0.0.1",))
    with facade(["alice", "bob"]) as accounts:
        alice = accounts["alice"]
        assert alice.msrp.transport == "tls"  # the original SDK's default
        stream = ChatStream(alice)
        session, answering, theirs = chat(events, alice, stream)
        assert stream.tls and theirs.tls
        for sdp in (str(session.local_sdp), str(answering.local_sdp)):
            assert "TCP/TLS/MSRP *" in sdp and "a=path:msrps://127.0.0.1:" in sdp
        events.wait(by(stream, "MediaStreamDidStart"))
        sent = stream.send_message("over tls")
        [message] = got(events, theirs)
        assert message.content == b"over tls"
        events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                    and n.data.message_id == sent)
        reply = theirs.send_message("back over tls")
        [back] = got(events, stream)
        assert back.content == b"back over tls"
        events.wait(lambda n: by(theirs, "ChatStreamDidDeliverMessage")(n)
                    and n.data.message_id == reply)
        session.end()
        events.wait(by(session, "SIPSessionDidEnd"))


def test_an_account_set_to_tcp_offers_tcp(spawn_service: Callable[..., Any], tmp_path: Path,
                                          events: Recorder) -> None:
    """Even when the service could do TLS; the answer takes the offer's transport."""
    tls_services(spawn_service, tmp_path, ips=("127.0.0.1",))
    with facade(["alice", "bob"]) as accounts:
        alice = accounts["alice"]
        alice.msrp.transport = "tcp"
        plain = ChatStream(alice)
        session, _answering, theirs = chat(events, alice, plain)
        assert not plain.tls and not theirs.tls
        assert "TCP/MSRP *" in str(session.local_sdp)
        assert "msrps" not in str(session.local_sdp)
        plain.send_message("over tcp")
        assert got(events, theirs)[0].content == b"over tcp"
        session.end()
        events.wait(by(session, "SIPSessionDidEnd"))


def test_a_certificate_for_another_host_fails_the_chat(
    spawn_service: Callable[..., Any], tmp_path: Path, events: Recorder
) -> None:
    tls_services(spawn_service, tmp_path, dns=("elsewhere.test",))
    with facade(["alice", "bob"]) as accounts:
        alice = accounts["alice"]
        stream = ChatStream(alice)
        ports = get_bus().call("signalling", "get_transports")
        session = Session(alice)
        session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                        [Route("127.0.0.1", ports["udp"], "udp")], [stream])
        new = events.wait("SIPSessionNewIncoming")
        new.sender.accept(new.data.streams)
        failed = events.wait(by(stream, "MediaStreamDidFail"))
        assert "certificate verify failed" in failed.data.reason
        assert "mismatch" in failed.data.reason
        assert not [n for n in events.seen if by(stream, "MediaStreamDidStart")(n)]
        events.wait(lambda n: n.sender is session
                    and n.name in ("SIPSessionDidEnd", "SIPSessionDidFail"))


def test_chat_through_a_relay(services: dict[str, Any], events: Recorder,
                              kamailio_factory: Callable[..., Kamailio]) -> None:
    relay = kamailio_factory(defines=["WITH_MSRP"])

    def behind_the_relay(account: Account) -> None:
        account.nat_traversal.msrp_relay = MSRPRelayAddress(
            "127.0.0.1", relay.msrp_port, "tcp")
        account.nat_traversal.use_msrp_relay_for_outbound = True
        account.auth.password = f"{account.user}-secret"  # Kamailio's users

    with facade(["alice", "bob"], configure=behind_the_relay) as accounts:
        alice = accounts["alice"]
        stream = ChatStream(alice)
        session, answering, theirs = chat(events, alice, stream)
        hop = f"a=path:msrp://127.0.0.1:{relay.msrp_port}/"
        assert hop in str(session.local_sdp) and hop in str(answering.local_sdp)
        sent = stream.send_message("through the relay")
        [message] = got(events, theirs)
        assert message.content == b"through the relay"
        events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                    and n.data.message_id == sent)
        theirs.send_message("back through it")
        assert got(events, stream)[0].content == b"back through it"
        session.end()
        events.wait(by(session, "SIPSessionDidEnd"))


def test_a_relay_refusing_auth_fails_the_stream(services: dict[str, Any], events: Recorder,
                                               kamailio_factory: Callable[..., Kamailio]
                                               ) -> None:
    relay = kamailio_factory(defines=["WITH_MSRP"])

    def wrong_password(account: Account) -> None:
        account.nat_traversal.msrp_relay = MSRPRelayAddress(
            "127.0.0.1", relay.msrp_port, "tcp")
        account.nat_traversal.use_msrp_relay_for_outbound = True
        account.auth.password = "not-the-password"

    with facade(["alice"], configure=wrong_password) as accounts:
        stream = ChatStream(accounts["alice"])
        session = Session(accounts["alice"])
        ports = get_bus().call("signalling", "get_transports")
        session.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)),
                        [Route("127.0.0.1", ports["udp"], "udp")], [stream])
        failed = events.wait(by(stream, "MediaStreamDidFail"))
        assert "refused AUTH" in failed.data.reason
        assert "refused the credentials" in failed.data.reason
        events.wait(lambda n: n.sender is session
                    and n.name in ("SIPSessionDidFail", "SIPSessionDidEnd"))


def dns_services(spawn_service: Callable[..., Any], nameserver: str) -> None:
    """The services, the dns one asking only `nameserver`; no relay remembered from before."""
    spawn_service("sipsimple_services.signalling", "signalling",
                  SIPSIMPLE_CLIENT_TIMEOUT="2", SIPSIMPLE_SIP_TRANSPORTS="udp")
    spawn_service("sipsimple_services.dns", "dns", SIPSIMPLE_DNS_NAMESERVERS=nameserver,
                  SIPSIMPLE_DNS_FALLBACK_NAMESERVERS="", SIPSIMPLE_DNS_PROBE_TIMEOUT="0.5",
                  SIPSIMPLE_DNS_PROBE_NAME=f"probe.{DOMAIN}")
    spawn_service("sipsimple_services.media", "media", SIPSIMPLE_CLIENT_TIMEOUT="2")
    spawn_service("sipsimple_services.msrp", "msrp")
    relays.clear()


def relay_wanted(password: str | None = None) -> Callable[[Account], None]:
    """Accounts over plain MSRP that want a relay both ways, none configured (DNS then)."""
    def configure(account: Account) -> None:
        assert account.nat_traversal.msrp_relay is None
        account.msrp.transport = "tcp"
        account.nat_traversal.use_msrp_relay_for_outbound = True
        account.auth.password = password or f"{account.user}-secret"  # Kamailio's users
    return configure


def chat_both_ways(events: Recorder, alice: Account) -> tuple[Session, Session]:
    """A chat from alice to bob, a message each way; both sessions (still up)."""
    stream = ChatStream(alice)
    session, answering, theirs = chat(events, alice, stream)
    sent = stream.send_message("hello bob")
    assert got(events, theirs)[0].content == b"hello bob"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == sent)
    theirs.send_message("hello alice")
    assert got(events, stream)[0].content == b"hello alice"
    return session, answering


def paths(session: Session) -> list[list[str]]:
    """Our a=path of each MSRP m-line of the session's SDP, URI by URI."""
    return [str(media.attributes.getfirst("path")).split() for media in session.local_sdp.media]


def test_chat_through_the_relay_of_the_domain_in_dns(
        spawn_service: Callable[..., Any], events: Recorder,
        kamailio_factory: Callable[..., Kamailio], dnsmasq_zone: Callable[[str], int]) -> None:
    relay = kamailio_factory(defines=["WITH_MSRP"])
    zone = dnsmasq_zone(
        "local=/test/\n"
        f"srv-host=_msrp._tcp.{DOMAIN},relay.{DOMAIN},{relay.msrp_port},0,10\n"
        f"host-record=relay.{DOMAIN},127.0.0.1\nhost-record=probe.{DOMAIN},127.0.0.1\n")
    dns_services(spawn_service, f"127.0.0.1:{zone}")
    with facade(["alice", "bob"], configure=relay_wanted()) as accounts:
        session, answering = chat_both_ways(events, accounts["alice"])
        hop = f"msrp://127.0.0.1:{relay.msrp_port}/"
        for ours in (session, answering):  # the relay's hop, then our own URI
            [[first, own]] = paths(ours)
            assert first.startswith(hop) and not own.startswith(hop)
        session.end()
        events.wait(by(session, "SIPSessionDidEnd"))


def chat_directly(events: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    """A chat both ways between accounts that want a relay, whose paths have no relay hop."""
    with caplog.at_level(logging.INFO, logger="sipsimple.streams.msrp.relays"), \
            facade(["alice", "bob"], configure=relay_wanted()) as accounts:
        session, answering = chat_both_ways(events, accounts["alice"])
        for ours in (session, answering):
            [[own]] = paths(ours)
            assert own.startswith("msrp://127.0.0.1:")
        session.end()
        events.wait(by(session, "SIPSessionDidEnd"))


@pytest.mark.parametrize("zone_records", [
    "",  # the domain is unknown: NXDOMAIN
    f"host-record={DOMAIN},127.0.0.2\n",  # an address on which no relay listens (2855)
], ids=["no-records", "address-without-relay"])
def test_a_domain_without_a_relay_chats_directly(
        spawn_service: Callable[..., Any], events: Recorder,
        dnsmasq_zone: Callable[[str], int], zone_records: str,
        caplog: pytest.LogCaptureFixture) -> None:
    zone = dnsmasq_zone(f"local=/test/\nhost-record=probe.{DOMAIN},127.0.0.1\n{zone_records}")
    dns_services(spawn_service, f"127.0.0.1:{zone}")
    chat_directly(events, caplog)
    if zone_records:
        assert f"the MSRP relay of {DOMAIN} (tcp) is unusable: " in caplog.text
        assert "127.0.0.2:2855" in caplog.text
    else:
        assert f"no MSRP relay for {DOMAIN} (tcp): " in caplog.text


def test_a_nameserver_that_does_not_answer_leaves_the_chat_direct(
        spawn_service: Callable[..., Any], events: Recorder, blackhole_nameserver: str,
        caplog: pytest.LogCaptureFixture) -> None:
    dns_services(spawn_service, blackhole_nameserver)
    chat_directly(events, caplog)
    [looked_up] = [r for r in caplog.records if "no MSRP relay" in r.getMessage()]
    assert "connecting directly" in looked_up.getMessage()
    assert f"no MSRP relay for {DOMAIN} (tcp): timeout: " in looked_up.getMessage()
