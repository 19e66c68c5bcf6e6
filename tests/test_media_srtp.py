"""SRTP contexts: round trips, forgery, wrong keys, replays, hostile bytes, RFC 3711 by hand."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.srtp import KEY_LENGTH, SUITES, SRTPContext, SRTPError

SUITE_NAMES = sorted(SUITES)
KEY_A = bytes(range(30))
KEY_B = bytes(range(100, 130))


def rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"\x55" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def rtcp_rr(ssrc: int = 0x11223344) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)  # a receiver report with no blocks


def pair(suite: str) -> tuple[SRTPContext, SRTPContext]:
    return SRTPContext(suite, KEY_A, KEY_B), SRTPContext(suite, KEY_B, KEY_A)


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_rtp_round_trip(suite: str) -> None:
    alice, bob = pair(suite)
    for seq in range(1, 20):
        packet = rtp(seq)
        protected = alice.protect(packet)
        assert len(protected) == len(packet) + SUITES[suite].rtp_tag_length
        assert protected[12:172] != packet[12:]  # the payload is encrypted
        assert protected[:12] == packet[:12]  # the header is not
        assert bob.unprotect(protected) == packet
    # And the other way.
    assert alice.unprotect(bob.protect(rtp(5, ssrc=7))) == rtp(5, ssrc=7)


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_rtcp_round_trip(suite: str) -> None:
    alice, bob = pair(suite)
    for _ in range(3):
        protected = alice.protect_rtcp(rtcp_rr())
        # E flag and SRTCP index (4 bytes), then an 80-bit tag with either suite.
        assert len(protected) == len(rtcp_rr()) + 4 + 10
        assert bob.unprotect_rtcp(protected) == rtcp_rr()


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_several_ssrcs_on_one_context(suite: str) -> None:
    alice, bob = pair(suite)
    for ssrc in (1, 2, 0xFFFFFFFF):
        assert bob.unprotect(alice.protect(rtp(100, ssrc=ssrc))) == rtp(100, ssrc=ssrc)


@pytest.mark.parametrize("suite", SUITE_NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_changed_byte_is_rejected(suite: str, data: st.DataObject) -> None:
    alice, bob = pair(suite)
    protected = bytearray(alice.protect(rtp(1)))
    position = data.draw(st.integers(0, len(protected) - 1))
    protected[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SRTPError):
        bob.unprotect(bytes(protected))
    # The genuine packet is still accepted: a forgery does not poison the stream.
    assert bob.unprotect(alice.protect(rtp(2))) == rtp(2)


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_tampered_rtcp_is_rejected(suite: str) -> None:
    alice, bob = pair(suite)
    protected = bytearray(alice.protect_rtcp(rtcp_rr()))
    protected[9] ^= 1
    with pytest.raises(SRTPError):
        bob.unprotect_rtcp(bytes(protected))


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_wrong_key_is_rejected(suite: str) -> None:
    alice = SRTPContext(suite, KEY_A, KEY_B)
    eve = SRTPContext(suite, KEY_B, os.urandom(KEY_LENGTH))
    with pytest.raises(SRTPError):
        eve.unprotect(alice.protect(rtp(1)))
    with pytest.raises(SRTPError):
        eve.unprotect_rtcp(alice.protect_rtcp(rtcp_rr()))


def test_wrong_suite_is_rejected() -> None:
    alice = SRTPContext("AES_CM_128_HMAC_SHA1_80", KEY_A, KEY_B)
    bob = SRTPContext("AES_CM_128_HMAC_SHA1_32", KEY_B, KEY_A)
    with pytest.raises(SRTPError):
        bob.unprotect(alice.protect(rtp(1)))


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_replays_are_rejected_but_reordering_is_not(suite: str) -> None:
    alice, bob = pair(suite)
    packets = [alice.protect(rtp(seq)) for seq in range(1, 6)]
    for index in (0, 2, 1, 4, 3):  # out of order within the window
        assert bob.unprotect(packets[index]) == rtp(index + 1)
    for packet in packets:
        with pytest.raises(SRTPError):
            bob.unprotect(packet)
    control = alice.protect_rtcp(rtcp_rr())
    bob.unprotect_rtcp(control)
    with pytest.raises(SRTPError):
        bob.unprotect_rtcp(control)


@settings(max_examples=300, deadline=None)
@given(packet=st.binary(max_size=1600))
def test_arbitrary_bytes_are_only_ever_srtp_errors(packet: bytes) -> None:
    alice, bob = pair("AES_CM_128_HMAC_SHA1_80")
    for operation in (bob.unprotect, bob.unprotect_rtcp):
        with pytest.raises(SRTPError):
            operation(packet)
    for operation in (alice.protect, alice.protect_rtcp):
        with contextlib.suppress(SRTPError):  # only SRTPError may escape
            operation(packet)


@pytest.mark.parametrize(
    ("suite", "local", "remote"),
    [
        ("AES_CM_128_HMAC_SHA1_80", bytes(29), KEY_B),
        ("AES_CM_128_HMAC_SHA1_80", KEY_A, bytes(31)),
        ("AES_CM_128_HMAC_SHA1_80", "not bytes", KEY_B),
        ("AES_256_CM_HMAC_SHA1_80", KEY_A, KEY_B),
        ("F8_128_HMAC_SHA1_80", KEY_A, KEY_B),
    ],
)
def test_bad_parameters_are_srtp_errors(suite: str, local: bytes, remote: bytes) -> None:
    with pytest.raises(SRTPError):
        SRTPContext(suite, local, remote)


def test_packets_must_be_bytes() -> None:
    alice, _ = pair("AES_CM_128_HMAC_SHA1_80")
    with pytest.raises(SRTPError):
        alice.protect("text")  # type: ignore[arg-type]
    assert alice.protect(bytearray(rtp(1)))


# RFC 3711 written out independently (AES-CM key derivation 4.3, AES-CM 4.1.1,
# HMAC-SHA1 4.2), to check that our key||salt layout is what peers expect.


def _aes_cm(key: bytes, iv: int, length: int) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv.to_bytes(16, "big"))).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def _derive(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    x = int.from_bytes(master_salt, "big") ^ (label << 48)
    return _aes_cm(master_key, x << 16, length)


@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_protected_packet_follows_rfc_3711(suite: str) -> None:
    master_key, master_salt = KEY_A[:16], KEY_A[16:]
    alice = SRTPContext(suite, KEY_A, KEY_B)
    packet = rtp(4660, ssrc=0xCAFEBABE, payload=bytes(range(160)))
    protected = alice.protect(packet)
    tag_length = SUITES[suite].rtp_tag_length
    session_key = _derive(master_key, master_salt, 0, 16)
    auth_key = _derive(master_key, master_salt, 1, 20)
    session_salt = _derive(master_key, master_salt, 2, 14)
    index = 4660  # ROC 0
    iv = (int.from_bytes(session_salt, "big") << 16) ^ (0xCAFEBABE << 64) ^ (index << 16)
    keystream = _aes_cm(session_key, iv, 160)
    payload = bytes(a ^ b for a, b in zip(packet[12:], keystream, strict=True))
    assert protected[12:-tag_length] == payload
    authenticated = protected[:-tag_length] + (0).to_bytes(4, "big")  # ROC
    tag = hmac.new(auth_key, authenticated, hashlib.sha1).digest()[:tag_length]
    assert protected[-tag_length:] == tag
