"""start_stream's `media` dict: asdict(NegotiatedMedia) is accepted, anything else is refused."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.streams.rtp.negotiation import NegotiatedMedia, SRTPParameters
from sipsimple_services.media.parameters import ParameterError, StreamParameters


def negotiated(**overrides: Any) -> dict[str, Any]:
    media = NegotiatedMedia(
        codec="opus", payload_type=111, local_payload_type=96, clock_rate=48000,
        sample_rate=48000, telephone_event_payload_type=100,
        local_telephone_event_payload_type=102, telephone_event_clock_rate=48000, ptime=20,
        direction="sendrecv", remote_address="192.0.2.1", remote_port=4000,
        remote_rtcp_address="192.0.2.1", remote_rtcp_port=4001, rtcp_mux=False,
        srtp=SRTPParameters("AES_CM_128_HMAC_SHA1_32", 2, os.urandom(30), os.urandom(30)),
    )
    return {**dataclasses.asdict(media), **overrides}


def test_negotiated_media_is_accepted() -> None:
    data = negotiated()
    params = StreamParameters.from_dict(data)
    assert (params.codec, params.payload_type, params.local_payload_type) == ("opus", 111, 96)
    assert params.srtp is not None and params.srtp.local_key == data["srtp"]["local_key"]
    assert "key" not in repr(params.srtp).replace("SRTPKeys", "")
    assert params.sends and params.receives and params.remote_known


@pytest.mark.parametrize(
    ("direction", "sends", "receives"),
    [("sendrecv", True, True), ("sendonly", True, False), ("recvonly", False, True),
     ("inactive", False, False)],
)
def test_directions(direction: str, sends: bool, receives: bool) -> None:
    params = StreamParameters.from_dict(negotiated(direction=direction))
    assert (params.sends, params.receives) == (sends, receives)


def test_old_style_hold_address() -> None:
    assert not StreamParameters.from_dict(negotiated(remote_address="0.0.0.0")).remote_known
    assert not StreamParameters.from_dict(negotiated(remote_port=0)).remote_known


def test_codec_names_are_case_insensitive_and_srtp_optional() -> None:
    params = StreamParameters.from_dict(
        negotiated(codec="pcmu", payload_type=0, local_payload_type=0, clock_rate=8000,
                   sample_rate=8000, srtp=None, telephone_event_payload_type=None,
                   local_telephone_event_payload_type=None, telephone_event_clock_rate=None)
    )
    assert params.codec == "PCMU" and params.srtp is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"codec": "speex"},
        {"clock_rate": 8000},
        {"payload_type": 128},
        {"local_payload_type": -1},
        {"payload_type": True},
        {"direction": "sideways"},
        {"remote_address": "example.com"},
        {"remote_port": 70000},
        {"rtcp_mux": 1},
        {"ptime": 5},
        {"telephone_event_payload_type": None},
        {"telephone_event_clock_rate": 0},
        {"srtp": {"suite": "AES_CM_128_HMAC_SHA1_80", "tag": 1, "local_key": b"short",
                  "remote_key": b"x" * 30}},
        {"srtp": {"suite": "F8_128_HMAC_SHA1_80", "tag": 1, "local_key": b"x" * 30,
                  "remote_key": b"x" * 30}},
        {"srtp": "yes"},
        {"extra": 1},
    ],
)
def test_bad_fields(overrides: dict[str, Any]) -> None:
    with pytest.raises(ParameterError):
        StreamParameters.from_dict(negotiated(**overrides))


def test_missing_fields() -> None:
    for name in negotiated():
        data = negotiated()
        del data[name]
        with pytest.raises(ParameterError):
            StreamParameters.from_dict(data)


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12),
    st.binary(max_size=32), st.dictionaries(st.text(max_size=10), st.integers(), max_size=3),
)


@given(st.dictionaries(st.sampled_from(sorted(negotiated())), VALUES), st.booleans())
def test_anything_is_accepted_or_a_parameter_error(
    changes: dict[str, Any], from_scratch: bool
) -> None:
    data = changes if from_scratch else negotiated(**changes)
    with contextlib.suppress(ParameterError):
        StreamParameters.from_dict(data)


@given(VALUES)
def test_not_a_map(value: Any) -> None:
    if isinstance(value, dict):
        return
    with pytest.raises(ParameterError):
        StreamParameters.from_dict(value)
