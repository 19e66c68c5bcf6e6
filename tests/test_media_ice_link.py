"""IceLink: the ICE agent, STUN and TURN clients on a stream's sockets (no sockets here).

Two links exchange their datagrams through an in-memory network keyed by
address, on a simulated clock; the service tests run the same over real
sockets.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from harness.fuzz import mutations
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.ice.stun import (
    Attr,
    Class,
    Message,
    Method,
    encode,
    new_transaction_id,
    short_term_key,
)
from sipsimple_services.media.ice_link import IceLink

Address = tuple[str, int]


class Net:
    """Datagrams between links, delivered in order on `run`."""

    def __init__(self) -> None:
        self.sockets: dict[Address, tuple[IceLink, int]] = {}
        self.queue: list[tuple[Address, Address, bytes]] = []
        self.media: dict[Address, list[tuple[bytes, Address]]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.selected: dict[str, tuple[Address, Address | None]] = {}
        self.now = 100.0

    def link(self, name: str, port: int, **kwargs: Any) -> IceLink:
        bases = [("127.0.0.1", port), ("127.0.0.1", port + 1)]

        def send(index: int, data: bytes, to: Address) -> None:
            self.queue.append((bases[index], tuple(to), data))  # type: ignore[arg-type]

        def publish(event: str, data: dict[str, Any]) -> None:
            self.events.append((event, data))

        def selected(rtp: Address, rtcp: Address | None, now: float) -> None:
            self.selected[name] = (rtp, rtcp)

        link = IceLink(name, bases, send, publish, selected, rng=random.Random(port), **kwargs)
        for index, base in enumerate(bases):
            self.sockets[base] = (link, index)
        return link

    def deliver(self) -> None:
        while self.queue:
            source, to, data = self.queue.pop(0)
            target = self.sockets.get(to)
            if target is None:
                continue
            link, index = target
            if data[0] < 4 or 64 <= data[0] < 80:
                for payload, peer in link.handle_datagram(index, data, source, self.now):
                    self.media.setdefault(to, []).append((payload, peer))
            else:
                self.media.setdefault(to, []).append((data, source))

    def run(self, seconds: float, *links: IceLink, step: float = 0.02) -> None:
        end = self.now + seconds
        while self.now < end:
            self.deliver()
            for link in links:
                link.poll(self.now)
            self.deliver()
            self.now += step

    def named(self, event: str, stream_id: str) -> list[dict[str, Any]]:
        return [d for e, d in self.events if e == event and d["stream_id"] == stream_id]


def gathered(net: Net, link: IceLink) -> dict[str, Any]:
    [description] = net.named("media.ice_gathered", link.stream_id)
    return description


def connect(net: Net, a: IceLink, b: IceLink, mux: bool = True) -> None:
    da, db = gathered(net, a), gathered(net, b)
    a.start(net.now, controlling=True, ufrag=db["ufrag"], pwd=db["pwd"],
            candidates=db["candidates"], rtcp_mux=mux)
    b.start(net.now, controlling=False, ufrag=da["ufrag"], pwd=da["pwd"],
            candidates=da["candidates"], rtcp_mux=mux)


def test_host_pairs_are_selected_and_media_goes_there() -> None:
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    description = gathered(net, a)
    assert len(description["candidates"]) == 2  # RTP and RTCP host candidates
    assert description["default"] == {
        "address": "127.0.0.1", "port": 20000, "rtcp_address": "127.0.0.1",
        "rtcp_port": 20001, "type": "host",
    }
    connect(net, a, b)
    net.run(1.0, a, b)
    for link in (a, b):
        assert link.state == "RUNNING"
        assert link.describe()["local_candidate_type"] == "HOST"
        assert link.describe()["remote_candidate_type"] == "HOST"
    assert net.selected["a"] == (("127.0.0.1", 20010), None)
    assert net.selected["b"] == (("127.0.0.1", 20000), None)
    [succeeded] = net.named("media.ice_succeeded", "a")
    assert [c["component"] for c in succeeded["chosen"]] == ["RTP"]
    assert succeeded["valid_pairs"][0]["nominated"] is True
    assert succeeded["duration"] < 1.0
    states = [d["state"] for d in net.named("media.ice_state", "b")]
    assert states == ["GATHERING", "GATHERING_COMPLETE", "NEGOTIATING", "RUNNING"]
    # RTP goes to the selected remote from the selected base, whatever the SDP said
    assert a.send_media(b"\x80\x00rtp", False, ("192.0.2.1", 4000), net.now)
    net.deliver()
    assert net.media[("127.0.0.1", 20010)] == [(b"\x80\x00rtp", ("127.0.0.1", 20000))]


def test_without_rtcp_mux_both_components_are_checked() -> None:
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    connect(net, a, b, mux=False)
    net.run(1.0, a, b)
    assert net.selected["a"] == (("127.0.0.1", 20010), ("127.0.0.1", 20011))
    assert a.send_media(b"\x81\xc8rtcp", True, ("192.0.2.1", 4001), net.now)
    net.deliver()
    assert net.media[("127.0.0.1", 20011)] == [(b"\x81\xc8rtcp", ("127.0.0.1", 20001))]


def test_media_waits_for_a_pair_and_goes_plain_after_a_failure() -> None:
    net = Net()
    a = net.link("a", 20000)
    a.gather(net.now)
    assert not a.send_media(b"\x80", False, ("127.0.0.1", 9), net.now)  # no ICE yet: plain
    a.start(net.now, controlling=True, ufrag="abcd", pwd="p" * 22,
            candidates=["1 1 UDP 2130706431 127.0.0.1 9 typ host"], rtcp_mux=True)
    assert a.send_media(b"\x80", False, ("127.0.0.1", 9), net.now)  # held back
    net.run(12.0, a, step=0.1)  # nobody answers on port 9
    assert a.state == "FAILED"
    [failed] = net.named("media.ice_failed", "a")
    assert failed["reason"]
    assert not a.send_media(b"\x80", False, ("127.0.0.1", 9), net.now)  # plain again


def test_a_peer_without_ice_gets_plain_rtp() -> None:
    net = Net()
    a = net.link("a", 20000)
    a.gather(net.now)
    a.plain(net.now)
    assert not a.send_media(b"\x80", False, ("127.0.0.1", 9), net.now)
    request = Message(Method.BINDING, Class.REQUEST, new_transaction_id(), ())
    assert a.handle_datagram(0, encode(request), ("127.0.0.1", 9), net.now) == []
    assert a.dropped_counts() == {"no-ice": 1}


def test_unauthenticated_and_malformed_stun_is_counted() -> None:
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    connect(net, a, b)
    net.run(1.0, a, b)
    attacker = ("127.0.0.1", 30000)
    assert a.agent is not None
    wrong = Message(
        Method.BINDING, Class.REQUEST, new_transaction_id(),
        ((Attr.USERNAME, f"{a.agent.local_ufrag}:x"), (Attr.PRIORITY, 1)),
    )
    a.handle_datagram(0, encode(wrong, short_term_key("not the password")), attacker, net.now)
    a.handle_datagram(0, encode(wrong)[:30], attacker, net.now)
    a.handle_datagram(0, b"\x40\x00\x00\x04data", attacker, net.now)
    counts = a.dropped_counts()
    assert counts["malformed"] == 1 and counts["channel-data-not-from-server"] == 1
    assert counts["integrity"] == 1
    assert a.state == "RUNNING" and net.selected["a"][0] == ("127.0.0.1", 20010)


def test_restart_keeps_the_pair_until_a_new_one_is_selected() -> None:
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    connect(net, a, b)
    net.run(1.0, a, b)
    old = gathered(net, a)["ufrag"]
    new_a = a.restart(net.now)
    new_b = b.restart(net.now)
    assert new_a["ufrag"] != old
    # the candidates stay (those of RTP only: rtcp-mux was agreed)
    assert new_a["candidates"] == gathered(net, a)["candidates"][:1]
    assert new_a["default"]["rtcp_port"] == 20000
    assert a.send_media(b"\x80", False, ("192.0.2.1", 4000), net.now)  # the old pair
    a.start(net.now, controlling=True, ufrag=new_b["ufrag"], pwd=new_b["pwd"],
            candidates=new_b["candidates"], rtcp_mux=True)
    b.start(net.now, controlling=False, ufrag=new_a["ufrag"], pwd=new_a["pwd"],
            candidates=new_a["candidates"], rtcp_mux=True)
    net.run(1.0, a, b)
    # each success names the credentials it was for: the facade drops a stale one
    assert [d["ufrag"] for d in net.named("media.ice_succeeded", "a")] == [old, new_a["ufrag"]]
    assert a.state == "RUNNING"


def test_gathering_twice_or_relay_only_without_turn_is_refused() -> None:
    net = Net()
    a = net.link("a", 20000)
    with pytest.raises(ValueError):
        a.gather(net.now, relay_only=True)
    a.gather(net.now)
    with pytest.raises(ValueError):
        a.gather(net.now)


def test_an_unanswered_stun_server_is_left_out_after_the_timeout() -> None:
    net = Net()
    a = net.link("a", 20000, gather_timeout=1.0)
    a.gather(net.now, [("127.0.0.1", 3478)])
    assert a.state == "GATHERING"
    net.run(1.1, a)
    description = gathered(net, a)
    assert description["failures"] and len(description["candidates"]) == 2


def test_checks_before_the_peer_started_are_answered_and_remembered() -> None:
    """The offerer's checks reach the answerer before the answerer's own start (the
    answer is still on its way through SIP): answered at once and acted on at start,
    nomination included, with no retransmission needed."""
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    da, db = gathered(net, a), gathered(net, b)
    a.start(net.now, controlling=True, ufrag=db["ufrag"], pwd=db["pwd"],
            candidates=db["candidates"], rtcp_mux=True)
    net.run(0.3, a, b)
    assert a.state == "RUNNING"  # b answered its checks, the nomination too
    b.start(net.now, controlling=False, ufrag=da["ufrag"], pwd=da["pwd"],
            candidates=da["candidates"], rtcp_mux=True)
    net.run(0.1, a, b)
    assert b.state == "RUNNING" and net.selected["b"] == (("127.0.0.1", 20000), None)


def _running_pair() -> tuple[Net, IceLink, IceLink]:
    net = Net()
    a, b = net.link("a", 20000), net.link("b", 20010)
    a.gather(net.now)
    b.gather(net.now)
    connect(net, a, b)
    net.run(0.5, a, b)
    return net, a, b


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), index=st.sampled_from([0, 1]),
       port=st.integers(1, 65535))
def test_any_bytes_from_anywhere_are_dropped_and_change_nothing(
    data: bytes, index: int, port: int
) -> None:
    net, a, _ = _running_pair()
    before = dict(net.selected)
    delivered = a.handle_datagram(index, data, ("127.0.0.1", port), net.now)
    assert delivered == []  # media only ever comes from the TURN server
    assert a.state == "RUNNING" and net.selected == before


def test_mutated_checks_are_dropped_or_answered_never_raise() -> None:
    """Real checks of the running pair, mutated (bit flips, cuts, insertions)."""
    net, a, b = _running_pair()
    assert b.agent is not None and a.agent is not None
    samples = []
    for use_candidate in (False, True):
        attributes: list[tuple[int, object]] = [
            (Attr.USERNAME, f"{a.agent.local_ufrag}:{b.agent.local_ufrag}"),
            (Attr.PRIORITY, 1845501695), (Attr.ICE_CONTROLLING, 7),
        ]
        if use_candidate:
            attributes.append((Attr.USE_CANDIDATE, True))
        message = Message(Method.BINDING, Class.REQUEST, new_transaction_id(), tuple(attributes))
        samples.append(encode(message, short_term_key(a.agent.local_pwd), fingerprint=True))
    for mutated in mutations(17, samples, 400, [b"\x00\x01", b"\x80\x28", b"\xff" * 4]):
        a.handle_datagram(0, mutated, ("127.0.0.1", 20010), net.now)
    assert a.state == "RUNNING" and net.selected["a"][0] == ("127.0.0.1", 20010)
    assert sum(a.dropped_counts().values()) > 0
