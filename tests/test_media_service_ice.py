"""ICE in the media service process: checks on the streams' own sockets, over the bus.

Two streams of the service gather, exchange what `media.ice_gathered` gave
(as the facade does through SDP), check, and send a tone to each other
through the selected pair: host pairs on loopback, and relayed pairs
through a real coturn (relay forced with relay_only). Hostile STUN on the
RTP port is dropped and counted while the audio goes on.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.coturn import Coturn, needs_coturn
from harness.notifications import Recorder
from test_media_service import (
    TONE,
    call,
    dominant,
    media,
    record,
    stats,
    tone_into,
    wait_stats,
)

from sipsimple.bus.client import BusClient, ServiceError, get_bus
from sipsimple_services.media.ice.stun import (
    Attr,
    Class,
    Message,
    Method,
    encode,
    new_transaction_id,
    short_term_key,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    spawn_service("sipsimple_services.media", "media")
    return get_bus()


def gathered(events: Recorder, stream: dict[str, Any], timeout: float = 15) -> Any:
    return events.wait(
        lambda n: n.name == "media.ice_gathered" and n.data.stream_id == stream["stream_id"],
        timeout,
    ).data


def ice_pair(
    bus: BusClient,
    events: Recorder,
    *,
    turn: Coturn | None = None,
    relay_only: bool = False,
    rtcp_mux: bool = True,
) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    """Two streams that gathered, started (RTP to each other's default candidate), and
    ran ICE against each other (A controlling)."""
    a = call(bus, "create_stream", address="127.0.0.1")
    b = call(bus, "create_stream", address="127.0.0.1")
    turn_server = None
    if turn is not None:
        turn_server = {"host": turn.host, "port": turn.port, "username": turn.username,
                       "password": turn.password}
    for stream in (a, b):
        call(bus, "ice_gather", stream_id=stream["stream_id"],
             stun_servers=[[turn.host, turn.port]] if turn else [],
             turn_server=turn_server, relay_only=relay_only)
    ga, gb = gathered(events, a), gathered(events, b)
    for stream, theirs in ((a, gb), (b, ga)):
        default = theirs.default
        peer = {"rtp_port": default["port"], "rtcp_port": default["rtcp_port"]}
        call(bus, "start_stream", stream_id=stream["stream_id"],
             media=media(peer, rtcp_mux=rtcp_mux))
    call(bus, "ice_start", stream_id=a["stream_id"], controlling=True, ufrag=gb.ufrag,
         pwd=gb.pwd, candidates=gb.candidates, rtcp_mux=rtcp_mux)
    call(bus, "ice_start", stream_id=b["stream_id"], controlling=False, ufrag=ga.ufrag,
         pwd=ga.pwd, candidates=ga.candidates, rtcp_mux=rtcp_mux)
    return a, b, ga, gb


def succeeded(events: Recorder, stream: dict[str, Any]) -> Any:
    return events.wait(
        lambda n: n.name in ("media.ice_succeeded", "media.ice_failed")
        and n.data.stream_id == stream["stream_id"],
    )


def tone_both_ways(bus: BusClient, a: dict[str, Any], b: dict[str, Any], tmp_path: Path) -> None:
    tone_into(bus, a, TONE)
    tone_into(bus, b, 700.0)
    for stream in (a, b):
        wait_stats(bus, stream, lambda s: s["packets_received"] > 20)
    for stream, frequency, name in ((b, TONE, "b.wav"), (a, 700.0, "a.wav")):
        heard, level = dominant(record(bus, stream, tmp_path / name, 1.2))
        assert heard == pytest.approx(frequency, abs=2) and level > 0.7 * 11585


@pytest.mark.parametrize("rtcp_mux", [True, False], ids=["mux", "no-mux"])
def test_host_pairs_carry_audio_both_ways(
    bus: BusClient, events: Recorder, tmp_path: Path, rtcp_mux: bool
) -> None:
    a, b, ga, _ = ice_pair(bus, events, rtcp_mux=rtcp_mux)
    assert [c.split()[7] for c in ga.candidates] == ["host", "host"]
    assert ga.default["type"] == "host" and ga.default["port"] == a["rtp_port"]
    for stream in (a, b):
        result = succeeded(events, stream)
        assert result.name == "media.ice_succeeded", result.data
        components = ["RTP"] if rtcp_mux else ["RTP", "RTCP"]
        assert [c["component"] for c in result.data.chosen] == components
        assert {c["local"]["type"] for c in result.data.chosen} == {"HOST"}
        assert {c["remote"]["type"] for c in result.data.chosen} == {"HOST"}
        assert result.data.valid_pairs and all(p["nominated"] for p in result.data.valid_pairs)
    states = [n.data.state for n in events.named("media.ice_state")
              if n.data.stream_id == b["stream_id"]]
    assert states == ["GATHERING", "GATHERING_COMPLETE", "NEGOTIATING", "RUNNING"]
    tone_both_ways(bus, a, b, tmp_path)
    info = stats(bus, a)["ice"]
    assert info["state"] == "RUNNING"
    assert (info["local_candidate_type"], info["remote_candidate_type"]) == ("HOST", "HOST")
    assert info["remote_address"] == ["127.0.0.1", b["rtp_port"]]
    if not rtcp_mux:
        wait_stats(bus, a, lambda s: s["rtcp_received"] > 0)


@needs_coturn
def test_relayed_pairs_through_coturn_carry_audio(
    bus: BusClient, events: Recorder, tmp_path: Path, coturn: Coturn
) -> None:
    a, b, ga, gb = ice_pair(bus, events, turn=coturn, relay_only=True)
    for description in (ga, gb):
        assert {c.split()[7] for c in description.candidates} == {"relay"}
        assert description.default["type"] == "relay"
        assert description.default["address"] == "127.0.0.1"
        assert description.default["port"] not in (a["rtp_port"], b["rtp_port"])
    for stream in (a, b):
        result = succeeded(events, stream)
        assert result.name == "media.ice_succeeded", result.data
        [chosen] = result.data.chosen
        assert (chosen["local"]["type"], chosen["remote"]["type"]) == ("RELAY", "RELAY")
    tone_both_ways(bus, a, b, tmp_path)
    for stream in (a, b):
        info = stats(bus, stream)["ice"]
        assert (info["local_candidate_type"], info["remote_candidate_type"]) == (
            "RELAY", "RELAY")
    # the media went through coturn: nothing came to the streams' ports from each other
    assert stats(bus, b)["rtp_dropped_foreign"] == 0


@needs_coturn
def test_stun_and_turn_gathering_with_coturn(
    bus: BusClient, events: Recorder, coturn: Coturn
) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    call(bus, "ice_gather", stream_id=a["stream_id"], stun_servers=[[coturn.host, coturn.port]],
         turn_server={"host": coturn.host, "port": coturn.port, "username": coturn.username,
                      "password": coturn.password})
    description = gathered(events, a)
    # no NAT on loopback: the server-reflexive address is the host one (left out)
    assert sorted(c.split()[7] for c in description.candidates) == [
        "host", "host", "relay", "relay"]
    assert description.default["type"] == "relay" and not description.failures


@needs_coturn
def test_wrong_turn_credentials_leave_the_host_candidates(
    bus: BusClient, events: Recorder, coturn: Coturn
) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    call(bus, "ice_gather", stream_id=a["stream_id"],
         turn_server={"host": coturn.host, "port": coturn.port, "username": coturn.username,
                      "password": "wrong"})
    description = gathered(events, a)
    assert [c.split()[7] for c in description.candidates] == ["host", "host"]
    assert any("TURN" in failure and "401" in failure for failure in description.failures)


def test_bad_ice_requests(bus: BusClient, events: Recorder) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    with pytest.raises(ServiceError) as error:
        call(bus, "ice_start", stream_id=a["stream_id"], controlling=True, ufrag="abcd",
             pwd="x" * 22, candidates=[])
    assert "ice_gather first" in str(error.value)
    for bad in ([["stun.example.com", 3478]], [["127.0.0.1", 0]], [["127.0.0.1"]]):
        with pytest.raises(ServiceError) as error:
            call(bus, "ice_gather", stream_id=a["stream_id"], stun_servers=bad)
        assert error.value.code == "invalid-params"
    with pytest.raises(ServiceError):
        call(bus, "ice_gather", stream_id=a["stream_id"], relay_only=True)
    call(bus, "ice_gather", stream_id=a["stream_id"])
    with pytest.raises(ServiceError):
        call(bus, "ice_gather", stream_id=a["stream_id"])


def _request(attributes: tuple[tuple[int, Any], ...]) -> Message:
    return Message(Method.BINDING, Class.REQUEST, new_transaction_id(), attributes)


def test_hostile_stun_is_dropped_and_counted_and_audio_goes_on(
    bus: BusClient, events: Recorder, tmp_path: Path
) -> None:
    a, b, ga, gb = ice_pair(bus, events)
    assert succeeded(events, b).name == "media.ice_succeeded"
    tone_into(bus, a)
    wait_stats(bus, b, lambda s: s["packets_received"] > 10)
    target = ("127.0.0.1", b["rtp_port"])
    username = f"{gb.ufrag}:{ga.ufrag}"
    good_key = short_term_key(gb.pwd)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.settimeout(0.5)
        # wrong integrity
        wrong = _request(((Attr.USERNAME, username), (Attr.PRIORITY, 1),
                          (Attr.ICE_CONTROLLING, 5)))
        for _ in range(3):
            attacker.sendto(encode(wrong, short_term_key("not-the-password-at-all"),
                                   fingerprint=True), target)
        # no integrity at all
        attacker.sendto(encode(_request(((Attr.USERNAME, username),))), target)
        # truncated
        whole = encode(wrong, good_key, fingerprint=True)
        for cut in (1, 19, 20, 27, len(whole) - 1):
            attacker.sendto(whole[:cut], target)
        # an unknown comprehension-required attribute, correctly signed: 420 back
        unknown = _request(((Attr.USERNAME, username), (Attr.PRIORITY, 1),
                            (Attr.ICE_CONTROLLING, 5), (0x7F01, b"\x00\x00\x00\x00")))
        attacker.sendto(encode(unknown, good_key, fingerprint=True), target)
        answer = attacker.recv(2048)
        assert answer[:2] == b"\x01\x11"  # a Binding error response
        assert struct.unpack_from("!H", answer, 2)[0] > 0
        # random bytes that look like STUN (first byte 0-3)
        for _ in range(5):
            attacker.sendto(b"\x00\x01" + os.urandom(60), target)
        # a flood of signed binding requests from one source (more than the kernel's
        # receive buffer holds at once: some are lost there, the rest answered at the
        # allowed rate and dropped beyond it)
        flood = [encode(_request(((Attr.USERNAME, username), (Attr.PRIORITY, 1),
                                  (Attr.ICE_CONTROLLING, 5))), good_key, fingerprint=True)
                 for _ in range(50)]
        for _ in range(10):
            for datagram in flood:
                attacker.sendto(datagram, target)

    def counted(after: dict[str, Any]) -> bool:
        dropped = after["stun_dropped"]
        return bool(dropped.get("integrity", 0) >= 3 and dropped.get("unauthenticated", 0) >= 1
                    and dropped.get("malformed", 0) >= 5 + 5
                    and dropped.get("unknown-attributes", 0) == 1
                    and dropped.get("flood", 0) >= 100)

    after = wait_stats(bus, b, counted)
    assert after["ice"]["state"] == "RUNNING"
    assert after["ice"]["remote_address"] == ["127.0.0.1", a["rtp_port"]]
    received = after["packets_received"]
    wait_stats(bus, b, lambda s: s["packets_received"] > received + 20)
    frequency, level = dominant(record(bus, b, tmp_path / "b.wav", 1.2))
    assert frequency == pytest.approx(TONE, abs=2) and level > 0.7 * 11585


def test_stun_on_a_stream_without_ice_is_counted(bus: BusClient) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(3):
            sock.sendto(encode(_request(())), ("127.0.0.1", a["rtp_port"]))
    wait_stats(bus, a, lambda s: s["stun_dropped"].get("no-ice", 0) == 3)
    assert stats(bus, a)["ice"] is None



def rebind_and_restart(
    bus: BusClient, events: Recorder, a: dict[str, Any], b: dict[str, Any], address: str,
    before: Any,
) -> tuple[dict[str, Any], Any]:
    """Move A to `address` and restart ICE on both as the facade does (A offers the
    restart: B restarts too, both start the checks); A's reply and its new description."""
    moved = call(bus, "rebind_stream", stream_id=a["stream_id"], address=address)
    assert moved["address"] == address and moved["ice"] is True
    assert moved["rtp_port"] % 2 == 0 and moved["rtcp_port"] == moved["rtp_port"] + 1
    new = events.wait(
        lambda n: n.name == "media.ice_gathered" and n.data.stream_id == a["stream_id"]
        and n.data.ufrag != before.ufrag,
    ).data
    assert (new.ufrag, new.pwd) != (before.ufrag, before.pwd)
    restarted = call(bus, "ice_restart", stream_id=b["stream_id"])
    default = new.default
    peer = {"rtp_port": default["port"], "rtcp_port": default["rtcp_port"]}
    call(bus, "update_stream", stream_id=b["stream_id"], relearn=True,
         media=media(peer, rtcp_mux=True, remote_address=default["address"],
                     remote_rtcp_address=default["rtcp_address"]))
    call(bus, "ice_start", stream_id=b["stream_id"], controlling=False, ufrag=new.ufrag,
         pwd=new.pwd, candidates=new.candidates, rtcp_mux=True)
    call(bus, "ice_start", stream_id=a["stream_id"], controlling=True,
         ufrag=restarted["ufrag"], pwd=restarted["pwd"], candidates=restarted["candidates"],
         rtcp_mux=True)
    return moved, new


def second_result(events: Recorder, stream: dict[str, Any]) -> Any:
    """The stream's second ICE result (success or failure): the restart's checks'."""
    def results() -> list[Any]:
        return [n for n in events.seen if n.name in ("media.ice_succeeded", "media.ice_failed")
                and n.data.stream_id == stream["stream_id"]]

    events.wait(lambda _: len(results()) >= 2, timeout=30)
    return results()[1]


def test_rebind_moves_the_stream_to_new_sockets_and_ice_restarts_there(
    bus: BusClient, events: Recorder, tmp_path: Path
) -> None:
    """What an address change does (docs/nat.md): A's sockets move from 127.0.0.1 to
    127.0.0.2, A gathers again with new credentials, B restarts, both check again and
    the audio goes both ways through the new pair; the old ports are closed."""
    a, b, ga, _ = ice_pair(bus, events)
    for stream in (a, b):
        assert succeeded(events, stream).name == "media.ice_succeeded"
    tone_both_ways(bus, a, b, tmp_path)

    moved, new = rebind_and_restart(bus, events, a, b, "127.0.0.2", ga)
    for port in (a["rtp_port"], a["rtcp_port"]):  # the old sockets are closed
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))
    assert {c.split()[4] for c in new.candidates} == {"127.0.0.2"}
    assert new.default["port"] == moved["rtp_port"]
    result = second_result(events, a)
    assert result.name == "media.ice_succeeded", result.data
    [chosen] = result.data.chosen
    assert (chosen["local"]["address"], chosen["local"]["port"]) == (
        "127.0.0.2", moved["rtp_port"])
    assert chosen["remote"]["port"] == b["rtp_port"]
    result = second_result(events, b)
    assert result.name == "media.ice_succeeded", result.data
    assert (result.data.chosen[0]["remote"]["address"],
            result.data.chosen[0]["remote"]["port"]) == ("127.0.0.2", moved["rtp_port"])
    received = stats(bus, b)["packets_received"]
    wait_stats(bus, b, lambda s: s["packets_received"] > received + 20)
    tone_both_ways(bus, a, b, tmp_path)
    info = stats(bus, a)["ice"]
    assert info["state"] == "RUNNING"
    assert info["local_address"] == ["127.0.0.2", moved["rtp_port"]]


@needs_coturn
def test_rebind_makes_a_new_turn_allocation_from_the_new_sockets(
    bus: BusClient, events: Recorder, tmp_path: Path, coturn: Coturn
) -> None:
    a, b, ga, _ = ice_pair(bus, events, turn=coturn, relay_only=True)
    for stream in (a, b):
        assert succeeded(events, stream).name == "media.ice_succeeded"
    _, new = rebind_and_restart(bus, events, a, b, "127.0.0.2", ga)
    assert {c.split()[7] for c in new.candidates} == {"relay"}
    assert new.default["type"] == "relay" and not new.failures
    # a new allocation: another relayed address than the first one
    assert new.default["port"] != ga.default["port"]
    for stream in (a, b):
        result = second_result(events, stream)
        assert result.name == "media.ice_succeeded", result.data
        [chosen] = result.data.chosen
        assert (chosen["local"]["type"], chosen["remote"]["type"]) == ("RELAY", "RELAY")
    [chosen] = second_result(events, a).data.chosen
    assert chosen["local"]["port"] == new.default["port"]
    received = stats(bus, b)["packets_received"]
    wait_stats(bus, b, lambda s: s["packets_received"] > received + 20)
    tone_both_ways(bus, a, b, tmp_path)


def test_rebind_of_a_stream_without_ice_and_to_an_address_not_ours(
    bus: BusClient, tmp_path: Path
) -> None:
    a = call(bus, "create_stream", address="127.0.0.1")
    b = call(bus, "create_stream", address="127.0.0.1")
    with pytest.raises(ServiceError, match=r"cannot bind 192\.0\.2\.1"):
        call(bus, "rebind_stream", stream_id=a["stream_id"], address="192.0.2.1")
    with pytest.raises(ServiceError, match="not an IP address"):
        call(bus, "rebind_stream", stream_id=a["stream_id"], address="localhost")
    moved = call(bus, "rebind_stream", stream_id=a["stream_id"], address="127.0.0.3")
    assert moved["ice"] is False and moved["address"] == "127.0.0.3"
    call(bus, "start_stream", stream_id=a["stream_id"], media=media(b))
    call(bus, "start_stream", stream_id=b["stream_id"],
         media=media(moved, remote_address="127.0.0.3", remote_rtcp_address="127.0.0.3"))
    tone_into(bus, a, TONE)
    tone_into(bus, b, 700.0)
    for stream, frequency, name in ((b, TONE, "b.wav"), (a, 700.0, "a.wav")):
        wait_stats(bus, stream, lambda s: s["packets_received"] > 20)
        heard, _ = dominant(record(bus, stream, tmp_path / name, 1.2))
        assert heard == pytest.approx(frequency, abs=2)
