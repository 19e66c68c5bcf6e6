"""sipsimple.core.sdp model: both forms, conversions, checks and helpers."""

from __future__ import annotations

import dataclasses

import pytest

from sipsimple.core import (
    FrozenSDPAttribute,
    FrozenSDPAttributeList,
    FrozenSDPConnection,
    FrozenSDPMediaStream,
    FrozenSDPSession,
    FrozenSDPTiming,
    SDPAttribute,
    SDPAttributeList,
    SDPBandwidthInfo,
    SDPConnection,
    SDPMediaStream,
    SDPSession,
)


def build_chat_session() -> SDPSession:
    """Built the way the original SDK's applications did, piece by piece."""
    session = SDPSession(
        "192.0.2.6", id=3467525214, version=3467525214, name="blink-0.10.7-beta",
        connection=SDPConnection("192.0.2.6"),
    )
    stream = SDPMediaStream(
        "message", 2855, "TCP/TLS/MSRP", formats=["*"],
        attributes=[SDPAttribute("path", "msrps://192.0.2.6:2855/ca7940f12ddef14c3c32;tcp")],
    )
    stream.attributes.append(SDPAttribute("accept-types", "message/cpim text/*"))
    stream.attributes.append(SDPAttribute("sendrecv", ""))
    session.media.append(stream)
    return session


def test_building_like_the_original_and_serializing() -> None:
    assert str(build_chat_session()) == (
        "v=0\r\n"
        "o=- 3467525214 3467525214 IN IP4 192.0.2.6\r\n"
        "s=blink-0.10.7-beta\r\n"
        "c=IN IP4 192.0.2.6\r\n"
        "t=0 0\r\n"
        "m=message 2855 TCP/TLS/MSRP *\r\n"
        "a=path:msrps://192.0.2.6:2855/ca7940f12ddef14c3c32;tcp\r\n"
        "a=accept-types:message/cpim text/*\r\n"
        "a=sendrecv\r\n"
    )
    assert bytes(build_chat_session()) == str(build_chat_session()).encode()


def test_origin_defaults_to_an_ntp_timestamp_with_equal_version() -> None:
    session = SDPSession("192.0.2.1")
    assert session.id > 3_900_000_000  # NTP seconds of this century
    assert session.version == session.id
    assert session.user == "-" and session.name == " "
    assert (session.start_time, session.stop_time) == (0, 0)


def test_conversions_both_ways_are_deep_and_equal() -> None:
    mutable = build_chat_session()
    frozen = FrozenSDPSession.new(mutable)
    assert isinstance(frozen.media[0], FrozenSDPMediaStream)
    assert isinstance(frozen.media[0].attributes, FrozenSDPAttributeList)
    assert isinstance(frozen.connection, FrozenSDPConnection)
    back = SDPSession.new(frozen)
    assert back == mutable
    assert FrozenSDPSession.new(frozen) is frozen
    back.media[0].attributes.append(SDPAttribute("x-test", "1"))
    assert "x-test" not in mutable.media[0].attributes
    copy = SDPSession.new(mutable)
    copy.media[0].port = 1
    assert mutable.media[0].port == 2855


def test_frozen_forms_are_immutable_and_hashable() -> None:
    frozen = FrozenSDPSession.new(build_chat_session())
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.version = 2  # type: ignore[misc]
    assert hash(frozen) == hash(FrozenSDPSession.new(build_chat_session()))
    assert {frozen, FrozenSDPSession.new(build_chat_session())} == {frozen}


def test_frozen_constructor_converts_lists_and_mutable_values() -> None:
    media = FrozenSDPMediaStream(
        "audio", 4000, "RTP/AVP", formats=["0", "8"],
        connection=SDPConnection("2001:db8::1", address_type="IP6"),
        attributes=[SDPAttribute("rtpmap", "0 PCMU/8000")],
        bandwidth_info=[SDPBandwidthInfo("AS", 64)],
    )
    assert media.formats == ("0", "8")
    assert media.connection == FrozenSDPConnection("2001:db8::1", "IN", "IP6")
    assert media.attributes == (FrozenSDPAttribute("rtpmap", "0 PCMU/8000"),)
    hash(media)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FrozenSDPMediaStream("audio", 70000, "RTP/AVP", formats=["0"]), "port"),
        (lambda: FrozenSDPMediaStream("audio", 4000, "RTP/AVP"), "format"),
        (lambda: FrozenSDPMediaStream("au dio", 4000, "RTP/AVP", formats=["0"]), "media"),
        (lambda: FrozenSDPMediaStream("audio", 4000, "RTP//AVP", formats=["0"]), "transport"),
        (lambda: FrozenSDPMediaStream("audio", 4000, "RTP/AVP", formats="0"), "formats"),
        (lambda: FrozenSDPAttribute("rtpmap", "0 PCMU\r\nm=audio"), "attribute value"),
        (lambda: FrozenSDPAttribute("", "x"), "attribute name"),
        (lambda: FrozenSDPAttribute("a:b"), "attribute name"),
        (lambda: FrozenSDPConnection("192.0.2.1 x"), "address"),
        (lambda: FrozenSDPSession("192.0.2.1", id=-1), "session id"),
        (lambda: FrozenSDPSession("192.0.2.1", version=True), "session version"),
        (lambda: FrozenSDPSession("192.0.2.1", name=""), "session name"),
        (lambda: FrozenSDPSession("192.0.2.1", user="a b"), "user name"),
        (lambda: FrozenSDPSession("192.0.2.1", times=()), "t= line"),
        (lambda: FrozenSDPTiming(0, 0, ("",)), "repeat"),
    ],
)
def test_frozen_forms_check_every_field(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_mutable_forms_are_checked_when_serialized() -> None:
    session = build_chat_session()
    session.media[0].attributes.append(SDPAttribute("evil", "x\r\nm=audio 1 RTP/AVP 0"))
    with pytest.raises(ValueError, match="attribute value"):
        str(session)
    with pytest.raises(ValueError):
        FrozenSDPSession.new(session)


def test_attribute_list_lookups() -> None:
    attributes = SDPAttributeList(
        [SDPAttribute("rtpmap", "0 PCMU/8000"), SDPAttribute("rtpmap", "8 PCMA/8000"),
         SDPAttribute("sendrecv")]
    )
    assert attributes.getfirst("rtpmap") == "0 PCMU/8000"
    assert attributes.getfirst("fmtp") is None
    assert attributes.getfirst("fmtp", "none") == "none"
    assert attributes.getall("rtpmap") == ["0 PCMU/8000", "8 PCMA/8000"]
    assert attributes.getall("fmtp") == []
    assert "sendrecv" in attributes and "recvonly" not in attributes
    assert SDPAttribute("sendrecv", "") in attributes
    frozen = FrozenSDPAttributeList(attributes)
    assert frozen.getfirst("rtpmap") == "0 PCMU/8000"
    assert frozen.getall("rtpmap") == ["0 PCMU/8000", "8 PCMA/8000"]
    assert "sendrecv" in frozen and FrozenSDPAttribute("sendrecv") in frozen
    assert str(frozen[0]) == "rtpmap:0 PCMU/8000" and str(frozen[2]) == "sendrecv"
    assert str(SDPAttribute("setup", "actpass")) == "setup:actpass"


def test_media_direction_property_and_setter() -> None:
    media = SDPMediaStream("audio", 4000, "RTP/AVP", formats=["0"])
    assert media.direction is None
    media.attributes.extend([SDPAttribute("sendrecv"), SDPAttribute("rtcp-mux")])
    assert media.direction == "sendrecv"
    media.direction = "sendonly"
    assert [a.name for a in media.attributes] == ["rtcp-mux", "sendonly"]
    media.direction = None
    assert media.direction is None and "rtcp-mux" in media.attributes
    with pytest.raises(ValueError):
        media.direction = "sideways"
    assert FrozenSDPMediaStream.new(media).direction is None


def test_effective_direction_and_connection_fall_back_to_the_session() -> None:
    session = SDPSession(
        "192.0.2.1", connection=SDPConnection("192.0.2.1"),
        attributes=[SDPAttribute("sendonly")],
        media=[
            SDPMediaStream("audio", 4000, "RTP/AVP", formats=["0"]),
            SDPMediaStream("video", 4002, "RTP/AVP", formats=["31"],
                           attributes=[SDPAttribute("inactive")],
                           connection=SDPConnection("192.0.2.9")),
        ],
    )
    frozen = FrozenSDPSession.new(session)
    for form in (session, frozen):
        assert form.direction == "sendonly"
        assert form.media_direction(0) == "sendonly"
        assert form.media_direction(1) == "inactive"
        assert form.media_connection(0).address == "192.0.2.1"
        assert form.media_connection(1).address == "192.0.2.9"
    session.attributes.clear()
    assert session.media_direction(0) == "sendrecv"


def test_ice_and_disabled_helpers() -> None:
    media = FrozenSDPMediaStream(
        "audio", 0, "RTP/AVP", formats=["0"],
        attributes=[FrozenSDPAttribute("ice-ufrag", "2701ed80"),
                    FrozenSDPAttribute("ice-pwd", "6f8f8281")],
    )
    assert media.disabled and media.has_ice_attributes and not media.has_ice_candidates
    with_candidate = dataclasses.replace(
        media, port=5000,
        attributes=[*media.attributes,
                    FrozenSDPAttribute("candidate", "H 1 UDP 23 192.0.2.6 55328 typ host")],
    )
    assert with_candidate.has_ice_candidates and not with_candidate.disabled
    assert not FrozenSDPMediaStream("audio", 1, "RTP/AVP", formats=["0"]).has_ice_attributes


def test_times_shorthand() -> None:
    session = SDPSession("192.0.2.1", start_time=10, stop_time=20)
    assert [(t.start, t.stop) for t in session.times] == [(10, 20)]
    session.stop_time = 30
    assert FrozenSDPSession.new(session).stop_time == 30
    assert "t=10 30\r\n" in str(session)


def test_media_str_is_its_section() -> None:
    media = SDPMediaStream("video", 49170, "RTP/AVP", port_count=2, formats=["31"],
                           info="main", bandwidth_info=[SDPBandwidthInfo("AS", 256)])
    assert str(media) == "m=video 49170/2 RTP/AVP 31\r\ni=main\r\nb=AS:256\r\n"


def test_assigning_a_plain_list_of_attributes_keeps_the_lookups() -> None:
    media = SDPMediaStream("audio", 4000, "RTP/AVP", formats=["0"])
    media.attributes = [SDPAttribute("rtcp-mux")]  # type: ignore[assignment]
    assert isinstance(media.attributes, SDPAttributeList) and "rtcp-mux" in media.attributes
    session = SDPSession("192.0.2.1")
    session.attributes = [SDPAttribute("sendonly")]  # type: ignore[assignment]
    assert session.attributes.getfirst("sendonly") == ""
