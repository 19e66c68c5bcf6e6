"""RFC 4568 a=crypto: parsing, serializing, what we refuse, key generation, offers."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.streams.rtp.crypto import (
    KEY_LENGTH,
    SUPPORTED_SUITES,
    CryptoAttribute,
    CryptoAttributeError,
    generate_key,
    offer_attributes,
    usable_attributes,
)

# Key material as real phones send it (Blink's offer in the API document).
KEY_80 = "esI6DbLY1+Aceu0JNswN9Z10DcFx5cZwqJcu91jb"
KEY_32 = "SHuEMm1BYJqOF4udKl73EaCwnsI57pO86bYKsg70"


def test_parse_the_documents_example() -> None:
    crypto = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}")
    assert crypto.tag == 1
    assert crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert crypto.key == base64.b64decode(KEY_80)
    assert len(crypto.key) == KEY_LENGTH
    assert crypto.lifetime is None
    assert str(crypto) == f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}"


@pytest.mark.parametrize(
    ("value", "lifetime", "parameters"),
    [
        (f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}|2^20", 2**20, ()),
        (f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}|2^31", 2**31, ()),
        (f"2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}|1048576", 2**20, ()),
        (f"2 AES_CM_128_HMAC_SHA1_32 INLINE:{KEY_32} KDR=0 WSH=128", None, ("KDR=0", "WSH=128")),
        (f"2  AES_CM_128_HMAC_SHA1_32\tinline:{KEY_32}  ", None, ()),
    ],
)
def test_lifetime_and_harmless_parameters(
    value: str, lifetime: int | None, parameters: tuple[str, ...]
) -> None:
    crypto = CryptoAttribute.parse(value)
    assert crypto.lifetime == lifetime
    assert crypto.session_parameters == parameters
    assert CryptoAttribute.parse(str(crypto)) == crypto


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1",
        "1 AES_CM_128_HMAC_SHA1_80",
        f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}",
        f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}",  # tag is at most 9 digits
        f"-1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}",
        f"1 AES_256_CM_HMAC_SHA1_80 inline:{KEY_80}",  # a suite we do not run
        f"1 AEAD_AES_128_GCM inline:{KEY_80}",
        f"1 F8_128_HMAC_SHA1_80 inline:{KEY_80}",
        f"1 AES_CM_128_HMAC_SHA1_80 outline:{KEY_80}",
        f"1 AES_CM_128_HMAC_SHA1_80 {KEY_80}",
        "1 AES_CM_128_HMAC_SHA1_80 inline:",
        "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",  # 5 bytes
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}AAAA",  # 33 bytes
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80[:-1]}!",  # not base64
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|2^20|1:4",  # MKI
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|1:4",  # MKI without lifetime
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80};inline:{KEY_32}",  # two keys
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|2^49",  # beyond RFC 3711's limit
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|0",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}|two",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80} UNENCRYPTED_SRTP",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80} UNAUTHENTICATED_SRTP",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80} KDR=24",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80} FEC_KEY=inline:{KEY_32}",
    ],
)
def test_unusable_values_are_crypto_attribute_errors(value: str) -> None:
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute.parse(value)


def test_constructor_checks_its_fields() -> None:
    key = generate_key()
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute(True, "AES_CM_128_HMAC_SHA1_80", key)  # type: ignore[arg-type]
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key[:-1])
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute(10**9, "AES_CM_128_HMAC_SHA1_80", key)
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute(1, "AES_CM_128_HMAC_SHA1_80", key, session_parameters=("KDR=1",))
    with pytest.raises(CryptoAttributeError):
        CryptoAttribute.parse(None)  # type: ignore[arg-type]


@settings(max_examples=500)
@given(value=st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_only_crypto_attribute_error(value: str) -> None:
    try:
        crypto = CryptoAttribute.parse(value)
    except CryptoAttributeError:
        return
    assert CryptoAttribute.parse(str(crypto)) == crypto


@settings(max_examples=300)
@given(
    tag=st.integers(0, 999_999_999),
    suite=st.sampled_from(SUPPORTED_SUITES),
    key=st.binary(min_size=KEY_LENGTH, max_size=KEY_LENGTH),
    lifetime=st.none() | st.integers(1, 2**48),
    parameters=st.lists(st.sampled_from(["KDR=0", "WSH=64"]), max_size=2),
    junk=st.sampled_from(["", "x", "|", ";", " UNENCRYPTED_SRTCP", "=="]),
)
def test_serialized_attributes_parse_back_and_mangling_is_caught(
    tag: int, suite: str, key: bytes, lifetime: int | None, parameters: list[str], junk: str
) -> None:
    crypto = CryptoAttribute(tag, suite, key, lifetime, tuple(parameters))
    assert CryptoAttribute.parse(str(crypto)) == crypto
    mangled = str(crypto).replace("inline:", "inline:" + junk, 1) if junk else str(crypto)
    if junk:
        with pytest.raises(CryptoAttributeError):
            CryptoAttribute.parse(mangled)


def test_keys_are_random_and_long_enough() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert {len(k) for k in keys} == {KEY_LENGTH}


def test_usable_attributes_skip_what_we_cannot_use() -> None:
    values = [
        f"1 AES_256_CM_HMAC_SHA1_80 inline:{KEY_80}{KEY_80}",
        "garbage",
        f"3 AES_CM_128_HMAC_SHA1_32 inline:{KEY_32}",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{KEY_80}",
    ]
    assert [(c.tag, c.suite) for c in usable_attributes(values)] == [
        (3, "AES_CM_128_HMAC_SHA1_32"),
        (4, "AES_CM_128_HMAC_SHA1_80"),
    ]


def test_offer_attributes_have_fresh_keys_unless_kept() -> None:
    first = offer_attributes()
    assert [(c.tag, c.suite) for c in first] == [(1, SUPPORTED_SUITES[0]), (2, SUPPORTED_SUITES[1])]
    second = offer_attributes()
    assert {c.key for c in first}.isdisjoint({c.key for c in second})
    kept = offer_attributes(keep=first[1])
    assert kept[1].key == first[1].key
    assert kept[0].key not in {c.key for c in first}
