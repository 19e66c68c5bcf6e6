"""AudioStream with ICE: the SDP of RFC 8839, the account's settings, calls through the services.

Without services: reading the peer's ICE from an m-line, writing ours, the
settings. With the signalling, dns and media services (and coturn): two
accounts of this process call each other with ICE over host pairs, through a
TURN relay (relayed candidates forced), and an ICE account calls one without
ICE; audio is checked by tone both ways and the candidate types reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.audio import audio_services, wait_until
from harness.coturn import Coturn, needs_coturn
from harness.notifications import Recorder
from harness.sessions import facade
from test_streams_rtp_audio import call, hang_up, offer, play_and_record
from test_streams_rtp_audio_peers import (
    OUR_TONE,
    PEER_TONE,
    Baresip,
    call_or_answer,
    needs_baresip,
    peak,
    talk,
)

from sipsimple.account import Account
from sipsimple.application import SIPApplication
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.configuration.datatypes import NetworkAddress
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams import AudioStream
from sipsimple.streams.rtp.ice import (
    ICECandidate,
    ICECheck,
    LocalICE,
    ice_attributes,
    remote_ice,
)

LEVEL = 0.5 * 32767 / np.sqrt(2)  # a tone at volume 50
UFRAG, PWD = "aB3d", "x" * 22


def ice_offer(extra: str = "", candidates: str | None = None, session_level: bool = False) -> Any:
    credentials = f"a=ice-ufrag:{UFRAG}\na=ice-pwd:{PWD}\n"
    if candidates is None:
        candidates = ("a=candidate:1 1 UDP 2130706431 192.0.2.1 4000 typ host\n"
                      "a=candidate:2 1 UDP 1694498815 203.0.113.9 40000 typ srflx "
                      "raddr 192.0.2.1 rport 4000\n")
    sdp = offer(attributes=("" if session_level else credentials) + candidates + extra)
    if session_level:
        from sipsimple.core.sdp import parse_sdp

        text = str(sdp).replace("t=0 0\r\n", "t=0 0\r\n" + credentials.replace("\n", "\r\n"))
        sdp = parse_sdp(text)
    return sdp


# --- without services ------------------------------------------------------------------


def test_remote_ice_is_read_from_the_m_line_or_the_session() -> None:
    for session_level in (False, True):
        remote = remote_ice(ice_offer(session_level=session_level), 0)
        assert remote is not None
        assert (remote.ufrag, remote.pwd, remote.lite, remote.mismatch) == (
            UFRAG, PWD, False, False)
        assert [c.split()[7] for c in remote.candidates] == ["host", "srflx"]


def test_no_ice_bad_credentials_and_bad_candidates() -> None:
    assert remote_ice(offer(), 0) is None
    assert remote_ice(offer(attributes="a=ice-ufrag:ab\na=ice-pwd:short\n"), 0) is None
    remote = remote_ice(ice_offer(extra="a=candidate:garbage\n"), 0)
    assert remote is not None and len(remote.candidates) == 2  # the bad one ignored


def test_a_default_address_among_no_candidate_is_a_mismatch() -> None:
    remote = remote_ice(ice_offer(candidates=(
        "a=candidate:1 1 UDP 2130706431 192.0.2.50 4000 typ host\n")), 0)
    assert remote is not None and remote.mismatch


def test_ice_lite_is_seen() -> None:
    from sipsimple.core.sdp import parse_sdp

    text = str(ice_offer()).replace("t=0 0\r\n", "t=0 0\r\na=ice-lite\r\n")
    remote = remote_ice(parse_sdp(text), 0)
    assert remote is not None and remote.lite


def test_our_attributes() -> None:
    local = LocalICE("uFrg", "p" * 22, ("1 1 UDP 2130706431 127.0.0.1 5000 typ host",),
                     "127.0.0.1", 5000, "127.0.0.1", 5001, "host")
    text = [str(a) for a in ice_attributes(local)]
    assert text == ["ice-ufrag:uFrg", f"ice-pwd:{'p' * 22}", "ice-options:ice2",
                    "candidate:1 1 UDP 2130706431 127.0.0.1 5000 typ host"]
    later = [str(a) for a in ice_attributes(local, "1 192.0.2.1 4000")]
    assert later[-1] == "remote-candidates:1 192.0.2.1 4000"


def test_candidate_and_check_objects() -> None:
    data = {"component": "RTP", "type": "RELAY", "address": "192.0.2.1", "port": 5,
            "priority": 7, "rel_addr": "10.0.0.1"}
    candidate = ICECandidate.from_data(data)
    assert str(candidate) == "(RTP) 192.0.2.1:5 (relay)"
    check = ICECheck.from_data({"local_candidate": data, "remote_candidate": data,
                                "state": "SUCCEEDED", "nominated": True})
    assert check.nominated and check.local_candidate == candidate


def test_account_settings() -> None:
    ConfigurationManager().start(MemoryBackend())
    try:
        account = Account("carol@sip.test")
        nat = account.nat_traversal
        assert nat.use_ice is False and nat.stun_server_list is None
        assert nat.turn_server is None and nat.turn_username is None
        assert nat.turn_password is None and nat.ice_relay_only is False
        nat.turn_server = NetworkAddress("turn.example.com", 3478)
        nat.use_ice = True
        account.save()
        assert Account("carol@sip.test").nat_traversal.turn_server.host == "turn.example.com"
    finally:
        ConfigurationManager().stop()


# --- calls through the services -----------------------------------------------------------


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return audio_services(spawn_service)


def use_ice(account: Account, stun: list[tuple[str, int]] | None = [],  # noqa: B006
            turn: Coturn | None = None, relay_only: bool = False) -> None:
    """ICE on; `stun` None: STUN servers from DNS, [] (the default): none."""
    account.rtp.audio_codec_list = ("PCMU",)
    account.rtp.encryption.enabled = False
    nat = account.nat_traversal
    nat.use_ice = True
    nat.stun_server_list = None if stun is None else [NetworkAddress(h, p) for h, p in stun]
    if turn is not None:
        nat.turn_server = NetworkAddress(turn.host, turn.port)
        nat.turn_username, nat.turn_password = turn.username, turn.password
        nat.ice_relay_only = relay_only
    account.save()


@pytest.fixture
def accounts(services: dict[str, Any]) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        yield created


def ice_notifications(events: Recorder, stream: AudioStream, name: str) -> list[Any]:
    return [n for n in events.named(name) if n.sender is stream]


def succeeded(events: Recorder, stream: AudioStream) -> Any:
    return events.wait(lambda n: n.sender is stream and n.name in (
        "AudioStreamICENegotiationDidSucceed", "AudioStreamICENegotiationDidFail"))


def tones_both_ways(stream: AudioStream, offered: AudioStream, tmp_path: Path) -> None:
    frequency, level = play_and_record(stream, offered, 1000, tmp_path / "at-bob.wav")
    assert abs(frequency - 1000) < 15 and 0.6 < level / LEVEL < 1.4
    frequency, level = play_and_record(offered, stream, 600, tmp_path / "at-alice.wav")
    assert abs(frequency - 600) < 15 and 0.6 < level / LEVEL < 1.4


@pytest.mark.integration
@pytest.mark.parametrize("srtp", [False, True], ids=["rtp", "srtp"])
def test_host_pairs_between_two_ice_accounts(accounts: dict[str, Account], events: Recorder,
                                             tmp_path: Path, srtp: bool) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice)
    use_ice(bob)
    for account in (alice, bob):  # STUN and SRTP share the socket: the first byte decides
        account.rtp.encryption.enabled = srtp
        account.rtp.encryption.key_negotiation = "sdes_mandatory"
        account.save()
    session, stream, answering, offered = call(events, alice)
    assert stream.srtp_active is srtp and offered.srtp_active is srtp
    for s in (stream, offered):
        result = succeeded(events, s)
        assert result.name == "AudioStreamICENegotiationDidSucceed", result.data
        assert result.data.duration >= 0
        [pair] = result.data.valid_pairs  # rtcp-mux: one component, its chosen pair
        assert isinstance(pair, ICECheck) and pair.nominated
        assert (pair.local_candidate.type, pair.remote_candidate.type) == ("HOST", "HOST")
        assert all(isinstance(c, ICECandidate) for c in result.data.local_candidates)
        wait_until(lambda s=s: s.ice_active, "ice_active")
        assert (s.local_rtp_candidate_type, s.remote_rtp_candidate_type) == ("host", "host")
        states = [n.data.state for n in ice_notifications(
            events, s, "AudioStreamICENegotiationStateDidChange")]
        assert states[-2:] == ["NEGOTIATING", "RUNNING"] and states[0] == "GATHERING"
    # RFC 8839 in both descriptions, the default candidate in m=
    for sdp, own in ((session.local_sdp, stream), (answering.local_sdp, offered)):
        media = sdp.media[0]
        assert media.attributes.getfirst("ice-options") == "ice2"
        assert media.attributes.getfirst("ice-ufrag") and media.attributes.getfirst("ice-pwd")
        candidates = media.attributes.getall("candidate")
        assert candidates and all(" typ host" in c for c in candidates)
        assert media.port == own.local_rtp_port
    assert offered.remote_rtp_port_sdp == stream.local_rtp_port
    tones_both_ways(stream, offered, tmp_path)
    # a re-INVITE (hold and unhold) keeps ICE's pair; the controlling offerer names it
    session.hold()
    for held in (answering, session):
        events.wait(lambda n, held=held: n.name == "SIPSessionDidChangeHoldState"  # type: ignore[misc]
                    and n.sender is held and n.data.on_hold)
    remote_candidates = session.local_sdp.media[0].attributes.getfirst("remote-candidates")
    assert remote_candidates == f"1 127.0.0.1 {offered.local_rtp_port}"
    session.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and not n.data.on_hold)
    frequency, _ = play_and_record(stream, offered, 800, tmp_path / "after.wav")
    assert abs(frequency - 800) < 15
    assert stream.ice_active and offered.ice_active
    assert len(ice_notifications(events, stream, "AudioStreamICENegotiationDidFail")) == 0
    hang_up(events, session)


@pytest.mark.integration
@needs_coturn
def test_relayed_pairs_through_coturn(accounts: dict[str, Account], events: Recorder,
                                      tmp_path: Path, coturn: Coturn) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice, turn=coturn, relay_only=True)
    use_ice(bob, turn=coturn, relay_only=True)
    session, stream, _answering, offered = call(events, alice)
    for s in (stream, offered):
        result = succeeded(events, s)
        assert result.name == "AudioStreamICENegotiationDidSucceed", result.data
        [pair] = result.data.valid_pairs
        assert (pair.local_candidate.type, pair.remote_candidate.type) == ("RELAY", "RELAY")
        assert (s.local_rtp_candidate_type, s.remote_rtp_candidate_type) == ("relay", "relay")
    media = session.local_sdp.media[0]
    assert {c.split()[7] for c in media.attributes.getall("candidate")} == {"relay"}
    assert media.port != stream.local_rtp_port  # the relayed address is the default
    tones_both_ways(stream, offered, tmp_path)
    hang_up(events, session)


@pytest.mark.integration
@needs_coturn
def test_stun_and_turn_servers_from_the_settings(accounts: dict[str, Account],
                                                 events: Recorder, tmp_path: Path,
                                                 coturn: Coturn) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice, stun=[coturn.address], turn=coturn)
    use_ice(bob)
    session, stream, _answering, offered = call(events, alice)
    media = session.local_sdp.media[0]
    kinds = {c.split()[7] for c in media.attributes.getall("candidate")}
    assert kinds == {"host", "relay"}  # no NAT on loopback: no server-reflexive one
    for s in (stream, offered):
        assert succeeded(events, s).name == "AudioStreamICENegotiationDidSucceed"
    # host beats relay (type preference 126 against 0)
    assert (stream.local_rtp_candidate_type, stream.remote_rtp_candidate_type) == (
        "host", "host")
    tones_both_ways(stream, offered, tmp_path)
    hang_up(events, session)


@pytest.mark.integration
@pytest.mark.parametrize("ice_side", ["caller", "callee"])
def test_an_ice_account_and_one_without_ice(accounts: dict[str, Account], events: Recorder,
                                            tmp_path: Path, ice_side: str) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice if ice_side == "caller" else bob)
    for account in (alice, bob):
        account.rtp.audio_codec_list = ("PCMU",)
        account.save()
    session, stream, answering, offered = call(events, alice)
    tones_both_ways(stream, offered, tmp_path)
    for s in (stream, offered):
        assert not s.ice_active
        assert s.local_rtp_candidate_type is None and s.remote_rtp_candidate_type is None
        assert not ice_notifications(events, s, "AudioStreamICENegotiationDidSucceed")
    media = answering.local_sdp.media[0]
    assert media.attributes.getfirst("ice-ufrag") is None
    hang_up(events, session)


class FakeStunServer:
    """A STUN server on loopback that says every client is at MAPPED (a NAT's outside):
    a peer of the test, so that a server-reflexive candidate shows up on loopback."""

    MAPPED = ("203.0.113.7", 40000)

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.asked: list[tuple[str, int]] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from sipsimple_services.media.ice.stun import Attr, Class, StunError, encode, parse

        while self.running:
            try:
                data, source = self.sock.recvfrom(2048)
            except OSError:
                continue
            try:
                request = parse(data)
            except StunError:
                continue
            self.asked.append(source)
            answer = request.reply(Class.SUCCESS, ((Attr.XOR_MAPPED_ADDRESS, self.MAPPED),))
            self.sock.sendto(encode(answer, fingerprint=True), source)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.mark.integration
def test_stun_servers_from_dns_when_none_is_configured(
    spawn_service: Callable[..., Any], dnsmasq_zone: Callable[[str], int], events: Recorder,
) -> None:
    stun = FakeStunServer()
    try:
        port = dnsmasq_zone(
            f"srv-host=_stun._udp.sip.test,stun.sip.test,{stun.port},10,10\n"
            "host-record=stun.sip.test,127.0.0.1\n"
        )
        spawn_service("sipsimple_services.signalling", "signalling",
                      SIPSIMPLE_CLIENT_TIMEOUT="2", SIPSIMPLE_SIP_TRANSPORTS="udp")
        spawn_service("sipsimple_services.dns", "dns",
                      SIPSIMPLE_DNS_NAMESERVERS=f"127.0.0.1:{port}",
                      SIPSIMPLE_DNS_FALLBACK_NAMESERVERS="", SIPSIMPLE_DNS_PROBE_NAME="probe.test")
        spawn_service("sipsimple_services.media", "media", SIPSIMPLE_CLIENT_TIMEOUT="2")
        with facade(["alice", "bob"]) as accounts:
            use_ice(accounts["alice"], stun=None)  # None: _stun._udp.sip.test
            use_ice(accounts["bob"])
            session, stream, _answering, offered = call(events, accounts["alice"])
            candidates = session.local_sdp.media[0].attributes.getall("candidate")
            srflx = [c for c in candidates if " typ srflx " in c and c.split()[1] == "1"]
            assert srflx and srflx[0].split()[4:6] == ["203.0.113.7", "40000"]
            assert f"raddr 127.0.0.1 rport {stream.local_rtp_port}" in srflx[0]
            assert stream.local_rtp_port in {p for _, p in stun.asked}
            # the default candidate is the server-reflexive one (no relay)
            assert session.local_sdp.media[0].port == 40000
            # bob checks 203.0.113.7 in vain; the host pair works
            assert succeeded(events, offered).name == "AudioStreamICENegotiationDidSucceed"
            assert stream.remote_rtp_candidate_type == "host"
            hang_up(events, session)
    finally:
        stun.close()


# --- interop: baresip with its ice module ------------------------------------------------


@pytest.fixture
def alice(spawn_service: Callable[..., Any]) -> Iterator[Account]:
    audio_services(spawn_service)
    with facade(["alice"], domain="127.0.0.1") as created:
        yield created["alice"]


@pytest.fixture
def baresip_ice(tmp_path: Path) -> Iterator[Baresip]:
    """baresip with its ice module (medianat=ice), PCMU, host candidates."""
    workdir = tmp_path / "baresip"
    workdir.mkdir()
    peer = Baresip(workdir, "PCMU", None, PEER_TONE, account_params=";medianat=ice",
                   modules=("ice",))
    yield peer
    peer.stop()


@needs_baresip
@pytest.mark.integration
@pytest.mark.parametrize("direction", ["outgoing", "incoming"])
def test_ice_with_baresip(alice: Account, events: Recorder, baresip_ice: Baresip,
                          tmp_path: Path, direction: str) -> None:
    use_ice(alice)
    peer = baresip_ice
    session, stream = call_or_answer(alice, events, direction, "baresip", peer.sip_port,
                                     lambda uri: peer.command("dial", uri))
    started = events.wait(lambda n: n.name in ("SIPSessionDidStart", "SIPSessionDidFail")
                          and n.sender is session)
    assert started.name == "SIPSessionDidStart", (started.data, peer.log())
    result = succeeded(events, stream)
    assert result.name == "AudioStreamICENegotiationDidSucceed", (result.data, peer.log())
    assert remote_ice(session.remote_sdp, 0) is not None  # baresip did offer/answer ICE
    assert stream.ice_active
    # baresip leaves loopback out of its candidates (it lists the other interfaces): its
    # checks come from 127.0.0.1, which our agent learns as a peer-reflexive candidate
    assert stream.local_rtp_candidate_type == "host"
    assert stream.remote_rtp_candidate_type in ("host", "prflx")
    assert {p.remote_candidate.address for p in result.data.valid_pairs} == {"127.0.0.1"}
    talk(stream, tmp_path / "we-heard.wav")
    assert abs(peak(tmp_path / "we-heard.wav") - PEER_TONE) <= 10, peer.log()
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
    assert abs(peak(peer.decoded()) - OUR_TONE) <= 10, peer.log()


@pytest.mark.integration
def test_a_reoffer_with_new_credentials_restarts_ice(accounts: dict[str, Account],
                                                     events: Recorder, tmp_path: Path) -> None:
    """The peer restarts ICE in a re-INVITE (RFC 8445 9; a peer whose address changed
    does that): the answer has new credentials too, the checks run again, audio goes on."""
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice)
    use_ice(bob)
    session, stream, answering, offered = call(events, alice)
    for s in (stream, offered):
        assert succeeded(events, s).name == "AudioStreamICENegotiationDidSucceed"
    before = {own: sdp.media[0].attributes.getfirst("ice-ufrag")
              for own, sdp in ((stream, session.local_sdp), (offered, answering.local_sdp))}
    # what a peer with a new address does: new credentials in its next offer (our own
    # restart after an address change: test_streams_rtp_ice_lab.py, docs/nat.md)
    assert stream._ice_restart() is not None
    session.hold()
    for held in (answering, session):
        events.wait(lambda n, held=held: n.name == "SIPSessionDidChangeHoldState"  # type: ignore[misc]
                    and n.sender is held and n.data.on_hold)
    for s in (stream, offered):
        wait_until(lambda s=s: len(ice_notifications(
            events, s, "AudioStreamICENegotiationDidSucceed")) == 2, "no second ICE success")
    after = {own: sdp.media[0].attributes.getfirst("ice-ufrag")
             for own, sdp in ((stream, session.local_sdp), (offered, answering.local_sdp))}
    assert all(after[s] != before[s] for s in (stream, offered))
    assert session.local_sdp.media[0].attributes.getfirst("remote-candidates") is None
    session.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and not n.data.on_hold)
    frequency, _ = play_and_record(stream, offered, 800, tmp_path / "after.wav")
    assert abs(frequency - 800) < 15
    assert stream.ice_active and offered.ice_active
    hang_up(events, session)


def test_media_bound_where_the_kernel_no_longer_routes_moves_after_the_hold_in_flight(
        accounts: dict[str, Account], events: Recorder, tmp_path: Path) -> None:
    """The facade's side of an address change, on loopback: alice's stream is moved
    behind the session's back to 127.0.0.2 (as if that were where the host's address had
    been), then NetworkConditionsDidChange comes while her hold's re-INVITE is out. Once
    the hold is done, her session moves the stream to 127.0.0.1 (what the kernel picks
    towards bob) and offers an ICE restart; both ends check again and the audio is back."""
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice)
    use_ice(bob)
    session, stream, answering, offered = call(events, alice)
    for s in (stream, offered):
        assert succeeded(events, s).name == "AudioStreamICENegotiationDidSucceed"
    first_port = stream.local_rtp_port
    ufrag = session.local_sdp.media[0].attributes.getfirst("ice-ufrag")
    gathered = threading.Event()
    stream.rebind("127.0.0.2", gathered.set)
    assert gathered.wait(15) and stream.local_rtp_address == "127.0.0.2"
    aside = stream.local_rtp_port
    with Recorder("AudioStreamDidChangeRTPParameters", "SIPSessionDidChangeHoldState",
                  sender=None) as order:
        session.hold()  # its re-INVITE first: the move waits for it
        NotificationCenter().post_notification("NetworkConditionsDidChange", SIPApplication(),
                                               NotificationData())
        # the move: alice's stream back on 127.0.0.1, new sockets; both ends succeed there
        # (the address and the port are set one after the other: both read here)
        wait_until(lambda: stream.local_rtp_address == "127.0.0.1"
                   and stream.local_rtp_port not in (first_port, aside),
                   "the stream did not move")
        port = stream.local_rtp_port

        def pair_on(s: AudioStream, local: bool) -> bool:
            pairs = succeeded_pairs(events, s)
            return bool(pairs) and any(
                p.local_candidate.component == "RTP" and (
                    (p.local_candidate if local else p.remote_candidate).address,
                    (p.local_candidate if local else p.remote_candidate).port,
                ) == ("127.0.0.1", port) for p in pairs[-1])

        wait_until(lambda: pair_on(stream, True), "alice's new pair not reported")
        wait_until(lambda: pair_on(offered, False), "bob's new pair not reported")
    shown = [(n.name, n.sender) for n in order.seen if n.sender in (session, stream)]
    hold = shown.index(("SIPSessionDidChangeHoldState", session))
    assert ("AudioStreamDidChangeRTPParameters", stream) in shown[hold + 1:], shown
    wait_until(lambda: session.state == "connected", "the restart did not end")
    media = session.local_sdp.media[0]
    assert media.attributes.getfirst("ice-ufrag") != ufrag
    assert media.attributes.getfirst("remote-candidates") is None  # a restart: none (RFC 8839)
    assert media.port == port  # the new default candidate (host)
    assert stream.ice_active and offered.ice_active
    session.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and not n.data.on_hold)
    for player, recorder, frequency, name in ((stream, offered, 800, "at-bob.wav"),
                                              (offered, stream, 600, "at-alice.wav")):
        heard, _ = play_and_record(player, recorder, frequency, tmp_path / name)
        assert abs(heard - frequency) < 15, name
    hang_up(events, session)


def succeeded_pairs(events: Recorder, stream: AudioStream) -> list[Any]:
    return [n.data.valid_pairs for n in ice_notifications(
        events, stream, "AudioStreamICENegotiationDidSucceed")]


def test_a_network_change_that_keeps_our_address_moves_nothing(
        accounts: dict[str, Account], events: Recorder) -> None:
    """NetworkConditionsDidChange while the kernel still picks the stream's address towards
    the peer (another interface changed): no re-INVITE, no restart. The hold after it
    runs on the session's worker after the check, so a move would have come first."""
    alice, bob = accounts["alice"], accounts["bob"]
    use_ice(alice)
    use_ice(bob)
    session, stream, _, offered = call(events, alice)
    for s in (stream, offered):
        assert succeeded(events, s).name == "AudioStreamICENegotiationDidSucceed"
    before = (stream.local_rtp_address, stream.local_rtp_port,
              session.local_sdp.media[0].attributes.getfirst("ice-ufrag"))
    NotificationCenter().post_notification("NetworkConditionsDidChange", SIPApplication(),
                                           NotificationData())
    session.hold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is session
                and n.data.on_hold)
    assert (stream.local_rtp_address, stream.local_rtp_port,
            session.local_sdp.media[0].attributes.getfirst("ice-ufrag")) == before
    assert len(ice_notifications(events, stream, "AudioStreamICENegotiationDidSucceed")) == 1
    assert stream.ice_active
    hang_up(events, session)


@needs_baresip
@pytest.mark.integration
@pytest.mark.parametrize("direction", ["outgoing", "incoming"])
def test_ice_against_baresip_without_ice(alice: Account, events: Recorder, tmp_path: Path,
                                         direction: str) -> None:
    use_ice(alice)
    workdir = tmp_path / "baresip"
    workdir.mkdir()
    peer = Baresip(workdir, "PCMU", None, PEER_TONE)
    try:
        session, stream = call_or_answer(alice, events, direction, "baresip", peer.sip_port,
                                         lambda uri: peer.command("dial", uri))
        started = events.wait(lambda n: n.name in ("SIPSessionDidStart", "SIPSessionDidFail")
                              and n.sender is session)
        assert started.name == "SIPSessionDidStart", (started.data, peer.log())
        assert remote_ice(session.remote_sdp, 0) is None
        assert not stream.ice_active and stream.local_rtp_candidate_type is None
        talk(stream, tmp_path / "we-heard.wav")
        assert abs(peak(tmp_path / "we-heard.wav") - PEER_TONE) <= 10, peer.log()
        session.end()
        events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
        assert abs(peak(peer.decoded()) - OUR_TONE) <= 10, peer.log()
        assert not ice_notifications(events, stream, "AudioStreamICENegotiationDidSucceed")
    finally:
        peer.stop()


@pytest.mark.integration
@needs_coturn
@pytest.mark.parametrize("ice_side", ["caller", "callee"])
def test_a_relayed_default_candidate_serves_a_peer_without_ice(
    accounts: dict[str, Account], events: Recorder, tmp_path: Path, coturn: Coturn,
    ice_side: str,
) -> None:
    """Relay forced, the peer without ICE: it sends to our relayed address (the default
    candidate in c=/m=), and we send through the TURN allocation too."""
    alice, bob = accounts["alice"], accounts["bob"]
    with_ice = alice if ice_side == "caller" else bob
    use_ice(with_ice, turn=coturn, relay_only=True)
    for account in (alice, bob):
        account.rtp.audio_codec_list = ("PCMU",)
        account.rtp.encryption.enabled = False
        account.save()
    session, stream, _answering, offered = call(events, alice)
    ours, theirs = (stream, offered) if ice_side == "caller" else (offered, stream)
    assert theirs.remote_rtp_port_sdp != ours.local_rtp_port  # our relayed address
    tones_both_ways(stream, offered, tmp_path)
    assert not ours.ice_active and ours.local_rtp_candidate_type is None
    # the peer heard us from the relay, not from our socket
    wait_until(lambda: theirs.remote_rtp_port_received is not None, "no source learnt")
    assert theirs.remote_rtp_port_received == theirs.remote_rtp_port_sdp
    hang_up(events, session)
