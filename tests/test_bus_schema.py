from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.bus.schema import (
    MAX_EVENT_BATCH,
    MAX_MESSAGE_SIZE,
    PROTOCOL_VERSION,
    BusProtocolError,
    Error,
    ErrorCode,
    Event,
    Method,
    Param,
    Reply,
    Request,
    decode_event,
    decode_events,
    decode_reply,
    decode_request,
    encode_event,
    encode_events,
    encode_reply,
    encode_request,
    method_for,
    request_id_of,
)

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.integers(0, 2**63 - 1), st.text(), st.text(), st.dictionaries(st.text(), values, max_size=5)
)
def test_request_round_trip(request_id: int, client: str, method: str, params: dict) -> None:
    request = Request(request_id, client, method, params)
    assert decode_request(encode_request(request)) == request


@given(st.integers(0, 2**63 - 1), values)
def test_reply_round_trip(request_id: int, result: object) -> None:
    assert decode_reply(encode_reply(Reply(request_id, result=result))) == Reply(request_id, result)


def test_error_reply_round_trip() -> None:
    reply = Reply(7, error=Error("failed", "no such domain"))
    assert decode_reply(encode_reply(reply)) == reply


@given(
    st.text(min_size=1),
    st.text(),
    st.dictionaries(st.text(), values, max_size=5),
    st.floats(0, 2e9),
)
def test_event_round_trip(name: str, sender: str, data: dict, timestamp: float) -> None:
    event = Event(name, sender, data, timestamp)
    assert decode_event(encode_event(event)) == event


events = st.builds(Event, st.text(min_size=1), st.text(),
                   st.dictionaries(st.text(), values, max_size=3), st.floats(0, 2e9))


@given(st.lists(events, min_size=1, max_size=MAX_EVENT_BATCH))
def test_event_batch_round_trip(batch: list[Event]) -> None:
    frames = encode_events(batch)
    assert decode_events(frames) == batch
    assert frames[0] == batch[0].name.encode()  # the topic is the first event's name


def test_one_event_is_the_same_message_batched_or_not() -> None:
    event = Event("signalling.session_ended", "s1", {"code": 200}, 1.5)
    assert encode_events([event]) == encode_event(event)


def test_a_batch_has_one_to_max_events() -> None:
    event = Event("x", "s", {}, 0.0)
    for size in (0, MAX_EVENT_BATCH + 1):
        with pytest.raises(ValueError):
            encode_events([event] * size)


def test_a_bad_event_in_a_batch_costs_only_itself() -> None:
    good = encode_event(Event("x", "s", {"n": 1}, 1.0))
    decoded = decode_events([*good, b"x", b"\xc1", *good])
    assert decoded[0] == decoded[2] == Event("x", "s", {"n": 1}, 1.0)
    assert isinstance(decoded[1], BusProtocolError)


@pytest.mark.parametrize("count", [0, 1, 3, 2 * MAX_EVENT_BATCH + 2])
def test_a_message_not_in_pairs_is_refused(count: int) -> None:
    with pytest.raises(BusProtocolError) as info:
        decode_events([b"x"] * count)
    assert info.value.code is ErrorCode.BAD_MESSAGE


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_any_frames_give_only_protocol_errors(frames: list[bytes]) -> None:
    try:
        decoded = decode_events(frames)
    except BusProtocolError:
        return
    assert len(decoded) == len(frames) // 2
    assert all(isinstance(item, Event | BusProtocolError) for item in decoded)


@settings(max_examples=500)
@given(st.binary(max_size=512))
def test_any_bytes_give_only_protocol_errors(data: bytes) -> None:
    for decode in (decode_request, decode_reply):
        with contextlib.suppress(BusProtocolError):
            decode(data)
    with contextlib.suppress(BusProtocolError):
        decode_event([b"topic", data])
    request_id_of(data)  # best effort, never raises


@settings(max_examples=300)
@given(values)
def test_any_msgpack_value_gives_only_protocol_errors(value: object) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    for decode in (decode_request, decode_reply):
        with contextlib.suppress(BusProtocolError):
            decode(data)


def test_request_errors_are_specific() -> None:
    with pytest.raises(BusProtocolError) as info:
        decode_request(b"\xc1")
    assert info.value.code is ErrorCode.BAD_MESSAGE
    with pytest.raises(BusProtocolError) as info:
        decode_request(
            msgpack.packb({"v": 99, "id": 1, "client": "c", "method": "m", "params": {}})
        )
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION
    with pytest.raises(BusProtocolError) as info:
        decode_request(
            msgpack.packb(
                {"v": PROTOCOL_VERSION, "id": True, "client": "c", "method": "m", "params": {}}
            )
        )
    assert info.value.code is ErrorCode.BAD_MESSAGE
    with pytest.raises(BusProtocolError) as info:
        decode_request(b"\x00" * (MAX_MESSAGE_SIZE + 1))
    assert info.value.code is ErrorCode.TOO_LARGE


def test_extension_types_are_refused() -> None:
    data = msgpack.packb(
        {"v": 1, "id": 1, "client": "c", "method": "m", "params": {"x": msgpack.ExtType(5, b"x")}}
    )
    with pytest.raises(BusProtocolError):
        decode_request(data)


def test_request_id_of_recovers_the_id_of_a_bad_request() -> None:
    assert request_id_of(msgpack.packb({"id": 42, "method": 5})) == 42
    assert request_id_of(b"garbage") is None


def test_method_validation() -> None:
    method = Method("m", (Param("a", (str,)), Param("n", (int,), required=False)))
    assert method.validate({"a": "x"}) == {"a": "x"}
    assert method.validate({"a": "x", "n": 3}) == {"a": "x", "n": 3}
    for bad in ({}, {"a": 1}, {"a": "x", "n": True}, {"a": "x", "zzz": 1}, {"a": "x", "n": "3"}):
        with pytest.raises(BusProtocolError) as info:
            method.validate(bad)
        assert info.value.code is ErrorCode.INVALID_PARAMS


def test_method_lookup() -> None:
    assert method_for("dns", "ping").name == "ping"
    assert method_for("dns", "lookup_sip_proxy").name == "lookup_sip_proxy"
    with pytest.raises(BusProtocolError) as info:
        method_for("dns", "rm -rf")
    assert info.value.code is ErrorCode.UNKNOWN_METHOD
