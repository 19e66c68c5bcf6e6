"""The Session's descriptions: session-level fields and m-line placement."""

from __future__ import annotations

from sipsimple.core import FrozenSDPSession, SDPMediaStream
from sipsimple.session.sdp import (
    answer_for,
    local_address_for,
    local_session,
    offer_for,
    place_streams,
)


class Stream:
    def __init__(self, type: str, port: int) -> None:
        self.type, self.port = type, port

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        media = "application" if self.type == "probe" else self.type
        return SDPMediaStream(media, self.port, "udp", formats=["x"])


def test_local_address_for_loopback_and_unroutable() -> None:
    assert local_address_for("127.0.0.1") == "127.0.0.1"
    assert local_address_for("::1") == "::1"
    assert local_address_for("not an address") == "127.0.0.1"


def test_local_session_carries_address_family_and_user_agent() -> None:
    session = local_session("::1", "agent 1.0")
    assert session.address_type == "IP6" and session.connection.address_type == "IP6"
    assert session.name == "agent 1.0"
    assert local_session("127.0.0.1", "").name == "-"


def test_offer_places_streams_and_disables_removed_ones() -> None:
    a, b, c = Stream("audio", 4000), Stream("probe", 5000), Stream("audio", 6000)
    local = local_session("127.0.0.1", "x")
    first = offer_for(local, {a: 0, b: 1}, None)
    assert [m.port for m in first.media] == [4000, 5000]
    second = offer_for(local, {a: 0}, first)
    assert [m.port for m in second.media] == [4000, 0]
    assert second.version == first.version + 1 and second.id == first.id
    # a new stream of the same type takes the disabled slot before appending
    placed = place_streams(second, {a: 0}, [c])
    assert placed[c] == 1
    placed = place_streams(first, {a: 0, b: 1}, [c, Stream("audio", 7000)])
    assert sorted(placed.values()) == [0, 1, 2, 3]


def test_answer_keeps_our_origin_and_rejects_the_rest() -> None:
    a = Stream("audio", 4000)
    offer = FrozenSDPSession.parse(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 1000 udp x\r\nm=video 2000 udp x\r\n")
    local = local_session("127.0.0.1", "x")
    answer = answer_for(offer, local, {a: 0}, None)
    assert [m.port for m in answer.media] == [4000, 0]
    again = answer_for(offer, local, {a: 0}, answer)
    assert again.version == answer.version and again.id == answer.id  # nothing changed
