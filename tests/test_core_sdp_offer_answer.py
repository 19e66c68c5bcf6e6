"""sipsimple.core.sdp offer/answer (RFC 3264): one test per rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core.sdp import (
    DIRECTIONS,
    FrozenSDPSession,
    MediaChanges,
    SDPAttribute,
    SDPConnection,
    SDPMediaStream,
    SDPNegotiationError,
    SDPSession,
    answer_direction,
    build_answer,
    build_offer,
    compare_media,
    direction_allowed,
    disabled_media,
    free_media_index,
    next_version,
    parse_answer,
    parse_offer,
    sdp_changed,
    validate_answer,
    validate_offer,
    validate_reoffer,
)
from sipsimple.core.sdp.connections import compact_connections

OFFERER = "192.0.2.1"
ANSWERER = "192.0.2.2"


def audio(port: int = 4000, direction: str | None = None, address: str | None = None
          ) -> SDPMediaStream:
    media = SDPMediaStream(
        "audio", port, "RTP/AVP", formats=["0", "101"],
        attributes=[SDPAttribute("rtpmap", "0 PCMU/8000"),
                    SDPAttribute("rtpmap", "101 telephone-event/8000")],
        connection=SDPConnection(address) if address else None,
    )
    if direction:
        media.direction = direction
    return media


def chat(port: int = 2855, direction: str | None = "sendrecv") -> SDPMediaStream:
    media = SDPMediaStream(
        "message", port, "TCP/TLS/MSRP", formats=["*"],
        attributes=[SDPAttribute("path", f"msrps://192.0.2.2:{port}/abc;tcp"),
                    SDPAttribute("accept-types", "message/cpim text/*")],
    )
    media.direction = direction
    return media


def local(address: str, session_id: int = 100) -> SDPSession:
    return SDPSession(address, id=session_id, name="test", connection=SDPConnection(address))


def offer_of(*media: SDPMediaStream) -> FrozenSDPSession:
    return build_offer(local(OFFERER, 500), dict(enumerate(media)))


# -- directions (RFC 3264 6.1) ------------------------------------------------

@pytest.mark.parametrize(
    ("offered", "local_choice", "expected"),
    [
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendrecv", "sendonly", "sendonly"),
        ("sendrecv", "recvonly", "recvonly"),
        ("sendrecv", "inactive", "inactive"),
        ("sendonly", "sendonly", "inactive"),
        ("recvonly", "recvonly", "inactive"),
        ("sendonly", "recvonly", "recvonly"),
    ],
)
def test_answer_direction(offered: str, local_choice: str, expected: str) -> None:
    assert answer_direction(offered, local_choice) == expected
    assert direction_allowed(offered, expected)


def test_answer_direction_defaults_to_sendrecv_locally() -> None:
    assert answer_direction("sendonly") == "recvonly"
    with pytest.raises(ValueError):
        answer_direction("both")


@given(st.sampled_from(DIRECTIONS), st.sampled_from(DIRECTIONS))
def test_every_derived_answer_direction_is_allowed(offered: str, local_choice: str) -> None:
    assert direction_allowed(offered, answer_direction(offered, local_choice))


def test_direction_allowed_refuses_sending_to_a_sendonly_offer() -> None:
    assert not direction_allowed("sendonly", "sendrecv")
    assert not direction_allowed("recvonly", "recvonly")
    assert not direction_allowed("inactive", "sendonly")
    assert direction_allowed("sendrecv", "inactive")


# -- building answers (RFC 3264 6) --------------------------------------------

def test_answer_has_one_m_line_per_offered_one_in_order() -> None:
    offer = offer_of(audio(), chat(), audio(4002))
    answer = build_answer(offer, local(ANSWERER), {1: chat(3000), 0: audio(6000)})
    assert [m.media for m in answer.media] == ["audio", "message", "audio"]
    assert [m.port for m in answer.media] == [6000, 3000, 0]


def test_rejected_streams_are_answered_with_port_0_and_no_attributes() -> None:
    offer = offer_of(audio(), chat())
    answer = build_answer(offer, local(ANSWERER), {0: audio(6000)})
    rejected = answer.media[1]
    assert rejected.port == 0
    assert (rejected.media, rejected.transport, rejected.formats) == (
        "message", "TCP/TLS/MSRP", ["*"])
    assert len(rejected.attributes) == 0
    assert rejected.connection is None and rejected.bandwidth_info == []


def test_streams_offered_with_port_0_stay_at_port_0() -> None:
    offer = offer_of(audio(0), chat())
    answer = build_answer(offer, local(ANSWERER), {0: audio(6000), 1: chat()})
    assert answer.media[0].port == 0
    validate_answer(offer, FrozenSDPSession.new(answer))


def test_a_stream_answering_with_port_0_is_a_rejection() -> None:
    answer = build_answer(offer_of(audio()), local(ANSWERER), {0: audio(0)})
    assert answer.media[0].port == 0 and len(answer.media[0].attributes) == 0


def test_accepted_streams_get_the_answered_direction() -> None:
    offer = offer_of(audio(direction="sendonly"), chat(direction="recvonly"), audio(4002))
    answer = build_answer(
        offer, local(ANSWERER),
        {0: audio(6000), 1: chat(3000, direction=None), 2: audio(6002, "recvonly")},
    )
    assert [m.direction for m in answer.media] == ["recvonly", "sendonly", "recvonly"]
    validate_answer(offer, FrozenSDPSession.new(answer))


def test_session_level_direction_of_the_offer_is_honoured() -> None:
    offer_session = local(OFFERER, 500)
    offer_session.attributes.append(SDPAttribute("sendonly"))
    offer = build_offer(offer_session, {0: audio()})
    answer = build_answer(offer, local(ANSWERER), {0: audio(6000)})
    assert answer.media[0].direction == "recvonly"


def test_answer_keeps_local_session_fields_and_does_not_touch_its_inputs() -> None:
    mine = local(ANSWERER, 777)
    mine.media.append(audio(1))
    stream = audio(6000, address=ANSWERER)
    answer = build_answer(offer_of(audio()), mine, {0: stream})
    assert (answer.address, answer.id, answer.name) == (ANSWERER, 777, "test")
    assert len(mine.media) == 1 and stream.connection is not None
    assert stream.direction is None
    # the media c= equal to the session c= is folded into it
    assert answer.media[0].connection is None


def test_answer_building_refuses_caller_mistakes() -> None:
    offer = offer_of(audio())
    with pytest.raises(ValueError, match="no offered m-line"):
        build_answer(offer, local(ANSWERER), {1: audio()})
    with pytest.raises(ValueError, match="cannot answer"):
        build_answer(offer, local(ANSWERER), {0: chat()})


# -- offers that must be answered 488 ------------------------------------------

def test_malformed_offer_is_a_488() -> None:
    with pytest.raises(SDPNegotiationError) as info:
        parse_offer(b"v=0\r\nthis is not SDP\r\n")
    assert info.value.status == 488 and info.value.warning == "Malformed SDP"
    assert isinstance(info.value, ValueError)


def test_offer_without_a_connection_address_is_a_488() -> None:
    body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    with pytest.raises(SDPNegotiationError) as info:
        parse_offer(body)
    assert info.value.status == 488
    # a disabled m-line needs no address
    validate_offer(FrozenSDPSession.parse(body.replace("4000", "0")))


def test_good_offer_parses() -> None:
    offer = parse_offer(bytes(offer_of(audio(), chat())))
    assert [m.media for m in offer.media] == ["audio", "message"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_offer_body_gives_a_session_or_a_488(body: bytes) -> None:
    try:
        parse_offer(body)
    except SDPNegotiationError as exc:
        assert exc.status == 488


# -- checking answers -----------------------------------------------------------

def answer_text(*media: SDPMediaStream) -> bytes:
    return bytes(build_offer(local(ANSWERER), dict(enumerate(media))))


def test_valid_answer_passes() -> None:
    offer = offer_of(audio(), chat())
    answer = parse_answer(offer, answer_text(audio(6000), disabled_media(chat())))
    assert answer.media[1].port == 0


@pytest.mark.parametrize(
    ("answer_media", "message"),
    [
        ((audio(6000),), "1 m-lines, the offer had 2"),
        ((audio(6000), chat(), audio(6002)), "3 m-lines"),
        ((chat(), audio(6000)), "answered 'message' to an offered 'audio'"),
    ],
)
def test_answer_must_mirror_the_offer_m_lines(
    answer_media: tuple[SDPMediaStream, ...], message: str
) -> None:
    with pytest.raises(SDPNegotiationError, match=message):
        parse_answer(offer_of(audio(), chat()), answer_text(*answer_media))


def test_answer_cannot_accept_a_stream_offered_with_port_0() -> None:
    with pytest.raises(SDPNegotiationError, match="offered with port 0"):
        parse_answer(offer_of(audio(0)), answer_text(audio(6000)))


def test_answer_direction_must_be_compatible() -> None:
    with pytest.raises(SDPNegotiationError, match="sendrecv cannot answer sendonly"):
        parse_answer(offer_of(audio(direction="sendonly")), answer_text(audio(6000)))


def test_answer_needs_an_address_for_accepted_streams() -> None:
    body = "v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
    with pytest.raises(SDPNegotiationError, match="no connection address"):
        parse_answer(offer_of(audio()), body)


def test_malformed_answer_is_a_negotiation_error() -> None:
    with pytest.raises(SDPNegotiationError, match="malformed"):
        parse_answer(offer_of(audio()), "v=0\r\n")


# -- offers and re-offers (RFC 3264 8) -----------------------------------------

def test_initial_offer_keeps_stream_order_and_refuses_gaps() -> None:
    offer = build_offer(local(OFFERER), {0: audio(), 1: chat()})
    assert [m.media for m in offer.media] == ["audio", "message"]
    assert offer.connection is not None
    with pytest.raises(ValueError, match="no stream for m-line 1"):
        build_offer(local(OFFERER), {0: audio(), 2: chat()})


def test_removing_a_stream_sets_port_0_in_the_same_position() -> None:
    first = offer_of(audio(), chat(), audio(4002))
    second = build_offer(local(OFFERER, 500), {0: audio(), 2: audio(4002)}, first)
    assert [(m.media, m.port) for m in second.media] == [
        ("audio", 4000), ("message", 0), ("audio", 4002)]
    assert len(second.media[1].attributes) == 0
    assert second.version == first.version + 1


def test_an_unchanged_offer_keeps_its_version() -> None:
    first = offer_of(audio(), chat())
    again = build_offer(local(OFFERER, 500), {0: audio(), 1: chat()}, first)
    assert again == first and again.version == first.version


def test_every_change_increments_the_version_by_one() -> None:
    first = offer_of(audio())
    held = build_offer(local(OFFERER, 500), {0: audio(direction="sendonly")}, first)
    resumed = build_offer(local(OFFERER, 500), {0: audio(direction="sendrecv")}, held)
    assert (held.version, resumed.version) == (first.version + 1, first.version + 2)


def test_next_version_keeps_the_origin_line_except_the_version() -> None:
    previous = FrozenSDPSession.new(local(OFFERER, 500))
    changed = local("198.51.100.7", 999)  # new local address and session id
    changed.user = "someone"
    result = next_version(previous, changed)
    assert (result.user, result.id, result.address) == ("-", 500, OFFERER)
    assert result.version == previous.version + 1
    assert result.connection is not None and result.connection.address == "198.51.100.7"
    assert next_version(None, changed) == FrozenSDPSession.new(changed)
    assert next_version(previous, local(OFFERER, 500)) is previous


def test_a_disabled_m_line_is_reused_for_a_new_stream() -> None:
    first = offer_of(audio(), chat())
    removed = build_offer(local(OFFERER, 500), {0: audio()}, first)
    slot = free_media_index(removed.media, "message")
    assert slot == 1
    added = build_offer(local(OFFERER, 500), {0: audio(), slot: chat(2900)}, removed)
    assert [(m.media, m.port) for m in added.media] == [("audio", 4000), ("message", 2900)]
    assert added.version == removed.version + 1


def test_a_disabled_m_line_of_another_media_type_may_be_reused() -> None:
    removed = build_offer(local(OFFERER, 500), {1: chat()}, offer_of(audio(), chat()))
    slot = free_media_index(removed.media, "video")
    assert slot == 0
    video = SDPMediaStream("video", 5000, "RTP/AVP", formats=["96"])
    offer = build_offer(local(OFFERER, 500), {slot: video, 1: chat()}, removed)
    assert [m.media for m in offer.media] == ["video", "message"]


def test_free_media_index_prefers_the_same_type_then_any_then_appends() -> None:
    media = offer_of(audio(0), chat(0), audio()).media
    assert free_media_index(media, "message") == 1
    assert free_media_index(media, "video") == 0
    assert free_media_index(media, "audio", taken={0}) == 1
    assert free_media_index(media, "audio", taken={0, 1}) == 3
    assert free_media_index(media, "audio", taken={0, 1, 3}) == 4
    assert free_media_index((), "audio") == 0


# -- received re-offers ---------------------------------------------------------

def test_reoffer_with_fewer_m_lines_is_a_488() -> None:
    previous = offer_of(audio(), chat())
    with pytest.raises(SDPNegotiationError) as info:
        validate_reoffer(previous, offer_of(audio()))
    assert info.value.status == 488 and info.value.warning


def test_reoffer_changing_the_type_of_a_stream_in_use_is_a_488() -> None:
    with pytest.raises(SDPNegotiationError, match="changed from 'audio' to 'message'"):
        validate_reoffer(offer_of(audio()), offer_of(chat()))


def test_reoffer_classification() -> None:
    previous = offer_of(audio(), chat(), audio(0))
    offer = offer_of(audio(direction="sendonly"), chat(0), chat(), audio(4004))
    changes = validate_reoffer(previous, offer)
    assert changes == MediaChanges(added=(2, 3), removed=(1,), modified=(0,))
    assert changes
    assert not compare_media(previous, previous)
    assert validate_reoffer(previous, previous) == MediaChanges()


def test_reoffer_reusing_a_disabled_slot_with_another_type_is_an_addition() -> None:
    previous = offer_of(audio(0), chat())
    assert validate_reoffer(previous, offer_of(chat(2900), chat())).added == (0,)


def test_sdp_changed_looks_at_content_not_only_the_version() -> None:
    first = offer_of(audio())
    bumped = FrozenSDPSession.parse(str(first).replace(
        f" {first.version} IN", f" {first.version + 1} IN"))
    assert not sdp_changed(first, bumped)
    held = build_offer(local(OFFERER, 500), {0: audio(direction="sendonly")}, first)
    assert sdp_changed(first, held)
    same_version_changed = FrozenSDPSession.parse(str(held).replace(
        f" {held.version} IN", f" {first.version} IN"))
    assert sdp_changed(first, same_version_changed)


# -- connections ----------------------------------------------------------------

def test_compact_connections_hoists_a_shared_address() -> None:
    session = SDPSession(OFFERER, media=[audio(address=OFFERER), chat()])
    session.media[1].connection = SDPConnection(OFFERER)
    compact_connections(session)
    assert session.connection == SDPConnection(OFFERER)
    assert all(m.connection is None for m in session.media)


def test_compact_connections_keeps_media_that_differ() -> None:
    session = SDPSession(OFFERER, connection=SDPConnection(OFFERER),
                         media=[audio(address="198.51.100.1"), audio(address=OFFERER)])
    compact_connections(session)
    assert session.media[0].connection == SDPConnection("198.51.100.1")
    assert session.media[1].connection is None
    lone = SDPSession(OFFERER, media=[audio(address="198.51.100.1"), audio()])
    compact_connections(lone)
    assert lone.connection is None and lone.media[0].connection is not None


def test_answers_to_reoffers_keep_the_origin_and_version_rules() -> None:
    offer = offer_of(audio(), chat())
    first = next_version(None, build_answer(offer, local(ANSWERER, 9), {0: audio(6000)}))
    same = next_version(first, build_answer(offer, local(ANSWERER, 9), {0: audio(6000)}))
    assert same is first
    reoffer = offer_of(audio(), chat())
    both = next_version(
        first, build_answer(reoffer, local(ANSWERER, 10), {0: audio(6000), 1: chat(3000)})
    )
    assert (both.id, both.version) == (9, first.version + 1)
    validate_answer(reoffer, both)
