"""STUN codec: RFC 5769 vectors, round trips, integrity, fingerprint, hostile bytes."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.ice.stun import (
    Attr,
    Class,
    Message,
    Method,
    StunError,
    check_integrity,
    encode,
    error_response,
    is_stun,
    long_term_key,
    parse,
    short_term_key,
)

# RFC 5769 test vectors (section 2.1 to 2.4), as printed in the RFC
REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
IPV4_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
IPV6_RESPONSE = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
LONG_TERM_REQUEST = bytes.fromhex(
    "000100602112a44278ad3433c6ad72c029da412e"
    "00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c39465354767936347341"
    "0014000b6578616d706c652e6f726700"
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666"
)
SHORT_TERM = short_term_key("VOkJxbRl1RmTxUk/WvJxBt")
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


def test_rfc5769_sample_request() -> None:
    message = parse(REQUEST)
    assert (message.method, message.cls, message.transaction_id) == (
        Method.BINDING,
        Class.REQUEST,
        TID,
    )
    assert message.get(Attr.SOFTWARE) == "STUN test client"
    assert message.get(Attr.USERNAME) == "evtj:h6vY"
    assert message.get(Attr.PRIORITY) == 0x6E0001FF
    assert message.get(Attr.ICE_CONTROLLED) == 0x932FF9B151263B36
    assert message.fingerprint
    assert check_integrity(message, SHORT_TERM)
    assert not check_integrity(message, short_term_key("wrong"))


@pytest.mark.parametrize(
    ("data", "address"),
    [
        (IPV4_RESPONSE, ("192.0.2.1", 32853)),
        (IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_rfc5769_responses(data: bytes, address: tuple[str, int]) -> None:
    message = parse(data)
    assert message.cls is Class.SUCCESS
    assert message.get(Attr.XOR_MAPPED_ADDRESS) == address
    assert message.get(Attr.SOFTWARE) == "test vector"
    assert message.fingerprint
    assert check_integrity(message, SHORT_TERM)
    # our encoding differs only in the padding byte of SOFTWARE (the RFC pads with a space)
    again = encode(message, SHORT_TERM, fingerprint=True)
    assert parse(again) == message
    assert again[:36] == data[:35] + b"\x00"


def test_rfc5769_long_term_request_and_its_exact_encoding() -> None:
    message = parse(LONG_TERM_REQUEST)
    username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    assert message.get(Attr.USERNAME) == username
    assert message.get(Attr.NONCE) == "f//499k954d6OL34oL9FSTvy64sA"
    assert message.get(Attr.REALM) == "example.org"
    key = long_term_key(username, "example.org", "TheMatrIX")
    assert check_integrity(message, key)
    assert not check_integrity(message, long_term_key(username, "example.org", "thematrix"))
    assert encode(message, key) == LONG_TERM_REQUEST


def test_ipv6_vector_is_well_formed() -> None:
    # guard against a typo in the vector above: it must be 20 + 0x48 bytes
    assert len(IPV6_RESPONSE) == 20 + 0x48


def test_message_type_bits_for_every_method_and_class() -> None:
    for method in Method:
        for cls in Class:
            data = encode(Message(method, cls, TID))
            assert parse(data).method == method
            assert parse(data).cls is cls
    assert encode(Message(Method.ALLOCATE, Class.ERROR, TID))[:2] == b"\x01\x13"
    assert encode(Message(Method.DATA, Class.INDICATION, TID))[:2] == b"\x00\x17"


def test_sha256_integrity() -> None:
    key = b"secret"
    data = encode(
        Message(Method.BINDING, Class.REQUEST, TID, ((Attr.PRIORITY, 7),)), key, sha256=True
    )
    message = parse(data)
    assert message.mac_sha256 and check_integrity(message, key)
    assert not check_integrity(message, b"other")


def test_attributes_after_integrity_are_ignored_and_tampering_fails() -> None:
    key = b"k"
    data = encode(Message(Method.BINDING, Class.REQUEST, TID, ((Attr.PRIORITY, 1),)), key)
    extra = struct.pack("!HHI", Attr.PRIORITY, 4, 99)
    tampered = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    message = parse(tampered)
    assert message.get(Attr.PRIORITY) == 1
    assert len([k for k, _ in message.attributes if k == Attr.PRIORITY]) == 1
    assert check_integrity(message, key)
    flipped = bytearray(data)
    flipped[-25] ^= 1  # inside PRIORITY's value
    assert not check_integrity(parse(bytes(flipped)), key)


def test_a_wrong_fingerprint_is_not_stun() -> None:
    data = bytearray(encode(Message(Method.BINDING, Class.REQUEST, TID), fingerprint=True))
    data[-1] ^= 1
    with pytest.raises(StunError, match="FINGERPRINT"):
        parse(bytes(data))


def test_unknown_comprehension_required_attributes_are_listed() -> None:
    message = Message(
        Method.BINDING,
        Class.REQUEST,
        TID,
        ((0x7777, b"abc"), (0xC001, b"optional"), (Attr.PRIORITY, 5)),
    )
    parsed = parse(encode(message))
    assert parsed.unknown_required == (0x7777,)
    assert parsed.get(0xC001) == b"optional"
    answer = error_response(parsed, 420, "Unknown Attribute", (Attr.UNKNOWN_ATTRIBUTES, (0x7777,)))
    back = parse(encode(answer))
    assert back.error_code == 420
    assert back.get(Attr.UNKNOWN_ATTRIBUTES) == (0x7777,)


def test_turn_attributes() -> None:
    attributes = (
        (Attr.REQUESTED_TRANSPORT, 17),
        (Attr.LIFETIME, 600),
        (Attr.XOR_RELAYED_ADDRESS, ("203.0.113.5", 50000)),
        (Attr.XOR_PEER_ADDRESS, ("2001:db8::9", 40000)),
        (Attr.CHANNEL_NUMBER, 0x4001),
        (Attr.DATA, b"\x80\x00payload"),
        (Attr.REALM, "example.org"),
        (Attr.NONCE, "abc"),
        (Attr.USE_CANDIDATE, True),
        (Attr.ICE_CONTROLLING, 2**64 - 1),
        (Attr.ERROR_CODE, (438, "Stale Nonce")),
    )
    message = Message(Method.ALLOCATE, Class.REQUEST, TID, attributes)
    assert parse(encode(message)) == message


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Attr.XOR_MAPPED_ADDRESS, ("not-an-ip", 1)),
        (Attr.XOR_MAPPED_ADDRESS, ("10.0.0.1", 70000)),
        (Attr.PRIORITY, -1),
        (Attr.ERROR_CODE, (200, "OK")),
        (Attr.SOFTWARE, "x" * 800),
        (0x7001, "not bytes"),
    ],
)
def test_unencodable_values_raise_the_codec_error(kind: int, value: object) -> None:
    with pytest.raises(StunError):
        encode(Message(Method.BINDING, Class.REQUEST, TID, ((kind, value),)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        REQUEST[:19],
        REQUEST[:-1],  # truncated: the length field no longer matches
        b"\xc0" + REQUEST[1:],  # top bits set
        REQUEST[:4] + b"\x00\x00\x00\x00" + REQUEST[8:],  # no cookie
        REQUEST[:2] + b"\x00\x5c" + REQUEST[4:],  # length says more
        REQUEST[:20] + struct.pack("!HH", Attr.PRIORITY, 200),  # attribute past the end
        b"\x00\x01\x00\x08\x21\x12\xa4\x42"
        + TID
        + struct.pack("!HHH2x", Attr.PRIORITY, 2, 7),  # PRIORITY of 2 bytes
    ],
)
def test_malformed_messages_raise_the_codec_error(data: bytes) -> None:
    with pytest.raises(StunError):
        parse(data)


addresses = st.one_of(
    st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
    st.tuples(st.ip_addresses(v=6).map(str), st.integers(0, 65535)),
)
attribute = st.one_of(
    st.tuples(st.just(Attr.XOR_MAPPED_ADDRESS), addresses),
    st.tuples(st.just(Attr.MAPPED_ADDRESS), addresses),
    st.tuples(st.just(Attr.XOR_PEER_ADDRESS), addresses),
    st.tuples(st.just(Attr.USERNAME), st.text(max_size=40)),
    st.tuples(st.just(Attr.PRIORITY), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(Attr.ICE_CONTROLLED), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(Attr.LIFETIME), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(Attr.DATA), st.binary(max_size=64)),
    st.tuples(st.just(Attr.ERROR_CODE), st.tuples(st.integers(300, 699), st.text(max_size=20))),
    st.tuples(
        st.just(Attr.UNKNOWN_ATTRIBUTES), st.lists(st.integers(0, 0xFFFF), max_size=4).map(tuple)
    ),
    st.tuples(
        st.integers(0xC000, 0xFFFF).filter(lambda k: k not in set(Attr)), st.binary(max_size=10)
    ),
)


@given(
    method=st.sampled_from(Method),
    cls=st.sampled_from(Class),
    tid=st.binary(min_size=12, max_size=12),
    attributes=st.lists(attribute, max_size=6),
    key=st.none() | st.binary(min_size=1, max_size=32),
    sha256=st.booleans(),
    fingerprint=st.booleans(),
)
def test_round_trip(
    method: Method,
    cls: Class,
    tid: bytes,
    attributes: list[tuple[int, object]],
    key: bytes | None,
    sha256: bool,
    fingerprint: bool,
) -> None:
    message = Message(method, cls, tid, tuple(attributes))
    data = encode(message, key, sha256=sha256, fingerprint=fingerprint)
    assert is_stun(data)
    parsed = parse(data)
    assert parsed == message
    assert parsed.fingerprint == fingerprint
    if key is not None:
        assert check_integrity(parsed, key)
        assert encode(parsed, key, sha256=sha256, fingerprint=fingerprint) == data


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(StunError):
        parse(data)


def test_seeded_fuzz_of_mutated_messages() -> None:
    rng = random.Random(8489)
    seeds = [REQUEST, IPV4_RESPONSE, IPV6_RESPONSE, LONG_TERM_REQUEST]
    parsed = 0
    for i in range(20000):
        data = bytearray(seeds[i % len(seeds)])
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            if not data:
                break
            if choice < 0.5:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif choice < 0.75:
                del data[rng.randrange(len(data)) :]
                if len(data) >= 4:
                    data[2:4] = struct.pack("!H", max(0, len(data) - 20))
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        try:
            message = parse(bytes(data))
        except StunError:
            continue
        parsed += 1
        check_integrity(message, SHORT_TERM)
    assert parsed > 0  # the fuzz also reaches past the framing checks


def test_a_truncated_sha256_integrity_is_checked_on_its_length() -> None:
    import hashlib
    import hmac

    key = b"secret"
    body = struct.pack("!HHI", Attr.PRIORITY, 4, 7)
    header = struct.pack("!HHI12s", 0x0001, len(body) + 4 + 16, 0x2112A442, TID)
    mac = hmac.new(key, header + body, hashlib.sha256).digest()[:16]
    data = header + body + struct.pack("!HH", Attr.MESSAGE_INTEGRITY_SHA256, 16) + mac
    message = parse(data)
    assert message.mac_sha256 and len(message.mac) == 16
    assert check_integrity(message, key) and not check_integrity(message, b"other")
    # shorter than 16 bytes is not allowed (RFC 8489 14.6)
    short = header[:2] + struct.pack("!H", len(body) + 4 + 12) + header[4:] + body
    with pytest.raises(StunError):
        parse(short + struct.pack("!HH", Attr.MESSAGE_INTEGRITY_SHA256, 12) + mac[:12])
