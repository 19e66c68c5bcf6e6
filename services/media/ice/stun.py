"""STUN messages (RFC 8489) with the ICE (RFC 8445) and TURN (RFC 8656) attributes.

`parse` reads a datagram into a frozen `Message` or raises `StunError`;
`encode` writes one, adding MESSAGE-INTEGRITY (or -SHA256) and FINGERPRINT
when asked. The integrity attributes and FINGERPRINT are not kept in
`Message.attributes`: `parse` checks the FINGERPRINT itself (a wrong one is
not STUN) and keeps what `check_integrity` needs, since the key is known only
once the caller has read USERNAME (or REALM and NONCE).

Attributes are (type, value) pairs in wire order; known types get Python
values (addresses are `(host, port)`, text is `str`), others stay `bytes`.
Unknown comprehension-required types (below 0x8000) are listed in
`Message.unknown_required` so a server can answer 420.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import secrets
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "HEADER_SIZE",
    "MAGIC_COOKIE",
    "Attr",
    "Class",
    "Message",
    "Method",
    "StunError",
    "check_integrity",
    "encode",
    "error_response",
    "is_stun",
    "long_term_key",
    "new_transaction_id",
    "parse",
    "short_term_key",
]

Address = tuple[str, int]

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
_HEADER = struct.Struct("!HHI12s")
_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
_FINGERPRINT_XOR = 0x5354554E


class StunError(ValueError):
    """The bytes are not a valid STUN message, or a value cannot be encoded."""


class Method(IntEnum):
    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009


class Class(IntEnum):
    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


class Attr(IntEnum):
    MAPPED_ADDRESS = 0x0001
    CHANGE_REQUEST = 0x0003  # RFC 5780
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A
    RESPONSE_ORIGIN = 0x802B
    OTHER_ADDRESS = 0x802C


# --- attribute values --------------------------------------------------------


def _xor_key(transaction_id: bytes) -> bytes:
    return _COOKIE_BYTES + transaction_id


def _pack_address(value: Address, key: bytes | None) -> bytes:
    host, port = value
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise StunError(f"not an IP address: {host!r}") from exc
    if not 0 <= port <= 0xFFFF:
        raise StunError(f"port out of range: {port}")
    raw = ip.packed
    family = 1 if ip.version == 4 else 2
    if key is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, key, strict=False))
    return struct.pack("!BBH", 0, family, port) + raw


def _unpack_address(data: bytes, key: bytes | None) -> Address:
    if len(data) < 4:
        raise StunError("address attribute too short")
    _, family, port = struct.unpack_from("!BBH", data)
    size = {1: 4, 2: 16}.get(family)
    if size is None or len(data) != 4 + size:
        raise StunError(f"bad address family {family} or length {len(data)}")
    raw = data[4:]
    if key is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, key, strict=False))
    return (str(ipaddress.ip_address(raw)), port)


def _pack_text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 763:
        raise StunError("text attribute longer than 763 bytes")
    return data


def _unpack_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunError("text attribute is not UTF-8") from exc


def _fixed(fmt: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    packer = struct.Struct(fmt)

    def pack(value: Any) -> bytes:
        try:
            return packer.pack(value)
        except struct.error as exc:
            raise StunError(f"value out of range: {value!r}") from exc

    def unpack(data: bytes) -> Any:
        if len(data) != packer.size:
            raise StunError(f"attribute of {len(data)} bytes, expected {packer.size}")
        return packer.unpack(data)[0]

    return pack, unpack


def _pack_error(value: tuple[int, str]) -> bytes:
    code, reason = value
    if not 300 <= code <= 699:
        raise StunError(f"error code out of range: {code}")
    return struct.pack("!HBB", 0, code // 100, code % 100) + _pack_text(reason)


def _unpack_error(data: bytes) -> tuple[int, str]:
    if len(data) < 4:
        raise StunError("ERROR-CODE too short")
    klass, number = data[2] & 0x07, data[3]
    if not 3 <= klass <= 6 or number > 99:
        raise StunError("ERROR-CODE out of range")
    return (klass * 100 + number, _unpack_text(data[4:]))


def _pack_types(value: tuple[int, ...]) -> bytes:
    return b"".join(_fixed("!H")[0](v) for v in value)


def _unpack_types(data: bytes) -> tuple[int, ...]:
    if len(data) % 2:
        raise StunError("UNKNOWN-ATTRIBUTES of odd length")
    return tuple(struct.unpack(f"!{len(data) // 2}H", data))


def _unpack_empty(data: bytes) -> bool:
    if data:
        raise StunError("flag attribute with a value")
    return True


def _pack_channel(value: int) -> bytes:
    return _fixed("!H")[0](value) + b"\x00\x00"


def _unpack_channel(data: bytes) -> int:
    if len(data) != 4:
        raise StunError("CHANNEL-NUMBER of wrong length")
    return int(struct.unpack_from("!H", data)[0])


def _pack_transport(value: int) -> bytes:
    return _fixed("!B")[0](value) + b"\x00\x00\x00"


def _unpack_transport(data: bytes) -> int:
    if len(data) != 4:
        raise StunError("REQUESTED-TRANSPORT of wrong length")
    return data[0]


_U32 = _fixed("!I")
_U64 = _fixed("!Q")


def _identity(data: bytes) -> bytes:
    return bytes(data)


# type -> (pack, unpack, xor'd with the transaction id); values of other types stay bytes
_PLAIN: dict[int, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    Attr.USERNAME: (_pack_text, _unpack_text),
    Attr.REALM: (_pack_text, _unpack_text),
    Attr.NONCE: (_pack_text, _unpack_text),
    Attr.SOFTWARE: (_pack_text, _unpack_text),
    Attr.ERROR_CODE: (_pack_error, _unpack_error),
    Attr.UNKNOWN_ATTRIBUTES: (_pack_types, _unpack_types),
    Attr.CHANNEL_NUMBER: (_pack_channel, _unpack_channel),
    Attr.LIFETIME: _U32,
    Attr.CHANGE_REQUEST: _U32,
    Attr.PRIORITY: _U32,
    Attr.ICE_CONTROLLED: _U64,
    Attr.ICE_CONTROLLING: _U64,
    Attr.REQUESTED_TRANSPORT: (_pack_transport, _unpack_transport),
    Attr.USE_CANDIDATE: (lambda _v: b"", _unpack_empty),
    Attr.DONT_FRAGMENT: (lambda _v: b"", _unpack_empty),
    Attr.DATA: (_identity, _identity),
    Attr.RESERVATION_TOKEN: (_identity, _identity),
}
_ADDRESSES: dict[int, bool] = {
    Attr.MAPPED_ADDRESS: False,
    Attr.ALTERNATE_SERVER: False,
    Attr.RESPONSE_ORIGIN: False,
    Attr.OTHER_ADDRESS: False,
    Attr.XOR_MAPPED_ADDRESS: True,
    Attr.XOR_PEER_ADDRESS: True,
    Attr.XOR_RELAYED_ADDRESS: True,
}
_SECURITY = (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT)
# comprehension-required types this codec understands without giving them a Python value
_KNOWN_RAW = frozenset({Attr.REQUESTED_ADDRESS_FAMILY, Attr.EVEN_PORT})


def _pack_value(kind: int, value: Any, transaction_id: bytes) -> bytes:
    if kind in _ADDRESSES:
        return _pack_address(value, _xor_key(transaction_id) if _ADDRESSES[kind] else None)
    if kind in _PLAIN:
        return _PLAIN[kind][0](value)
    if not isinstance(value, bytes | bytearray):
        raise StunError(f"attribute {kind:#06x} needs bytes")
    return bytes(value)


def _unpack_value(kind: int, data: bytes, transaction_id: bytes) -> Any:
    if kind in _ADDRESSES:
        return _unpack_address(data, _xor_key(transaction_id) if _ADDRESSES[kind] else None)
    if kind in _PLAIN:
        return _PLAIN[kind][1](data)
    return bytes(data)


def _known(kind: int) -> bool:
    return kind in _ADDRESSES or kind in _PLAIN or kind in _SECURITY or kind in _KNOWN_RAW


# --- messages ----------------------------------------------------------------


def new_transaction_id() -> bytes:
    return secrets.token_bytes(12)


@dataclass(frozen=True)
class Message:
    method: int
    cls: Class
    transaction_id: bytes
    attributes: tuple[tuple[int, Any], ...] = ()
    # filled by `parse`: comprehension-required types not understood
    unknown_required: tuple[int, ...] = ()
    # filled by `parse`: what MESSAGE-INTEGRITY(-SHA256) covers, and the MAC
    signed: bytes = field(default=b"", compare=False, repr=False)
    mac: bytes = field(default=b"", compare=False, repr=False)
    mac_sha256: bool = field(default=False, compare=False, repr=False)
    fingerprint: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.transaction_id) != 12:
            raise StunError("transaction id must be 12 bytes")
        if not 0 <= self.method <= 0xFFF:
            raise StunError(f"method out of range: {self.method}")

    def get(self, kind: int, default: Any = None) -> Any:
        """The value of the first attribute of type `kind` (RFC 8489 14: later ones are ignored)."""
        for k, value in self.attributes:
            if k == kind:
                return value
        return default

    def __contains__(self, kind: int) -> bool:
        return any(k == kind for k, _ in self.attributes)

    @property
    def has_integrity(self) -> bool:
        return bool(self.mac)

    @property
    def error_code(self) -> int | None:
        value = self.get(Attr.ERROR_CODE)
        return None if value is None else int(value[0])

    def reply(self, cls: Class, attributes: Iterable[tuple[int, Any]] = ()) -> Message:
        """A response to this request (same method and transaction id)."""
        return Message(self.method, cls, self.transaction_id, tuple(attributes))


def _message_type(method: int, cls: int) -> int:
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4)
        | ((cls & 2) << 7)
    )


def _split_type(kind: int) -> tuple[int, int]:
    method = (kind & 0x000F) | ((kind >> 1) & 0x0070) | ((kind >> 2) & 0x0F80)
    cls = ((kind >> 4) & 1) | ((kind >> 7) & 2)
    return method, cls


def _tlv(kind: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise StunError("attribute too long")
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)


def _header(message: Message, body_length: int) -> bytes:
    return _HEADER.pack(
        _message_type(message.method, message.cls),
        body_length,
        MAGIC_COOKIE,
        message.transaction_id,
    )


def _fingerprint(data: bytes) -> int:
    return (binascii.crc32(data) & 0xFFFFFFFF) ^ _FINGERPRINT_XOR


def _mac(key: bytes, data: bytes, sha256: bool) -> bytes:
    return hmac.new(key, data, hashlib.sha256 if sha256 else hashlib.sha1).digest()


def encode(
    message: Message,
    key: bytes | None = None,
    *,
    sha256: bool = False,
    fingerprint: bool = False,
) -> bytes:
    """The datagram for `message`, with MESSAGE-INTEGRITY(-SHA256) under `key` if given."""
    body = b"".join(
        _tlv(kind, _pack_value(kind, value, message.transaction_id))
        for kind, value in message.attributes
        if kind not in _SECURITY
    )
    if key is not None:
        size = 32 if sha256 else 20
        signed = _header(message, len(body) + 4 + size) + body
        kind = Attr.MESSAGE_INTEGRITY_SHA256 if sha256 else Attr.MESSAGE_INTEGRITY
        body += _tlv(kind, _mac(key, signed, sha256))
    if fingerprint:
        data = _header(message, len(body) + 8) + body
        body += _tlv(Attr.FINGERPRINT, struct.pack("!I", _fingerprint(data)))
    if len(body) > 0xFFFF:
        raise StunError("message too long")
    return _header(message, len(body)) + body


def is_stun(datagram: bytes) -> bool:
    """Shaped like STUN: top bits zero, magic cookie, length a multiple of 4 that fits."""
    return (
        len(datagram) >= HEADER_SIZE
        and datagram[0] < 4
        and datagram[4:8] == _COOKIE_BYTES
        and datagram[3] % 4 == 0
        and HEADER_SIZE + int.from_bytes(datagram[2:4], "big") == len(datagram)
    )


def parse(datagram: bytes) -> Message:
    if len(datagram) < HEADER_SIZE:
        raise StunError(f"{len(datagram)} bytes: shorter than a STUN header")
    kind, length, cookie, transaction_id = _HEADER.unpack_from(datagram)
    if kind & 0xC000:
        raise StunError("top bits of the message type are not zero")
    if cookie != MAGIC_COOKIE:
        raise StunError("no magic cookie")
    if length % 4 or HEADER_SIZE + length != len(datagram):
        raise StunError(f"length field {length} does not match {len(datagram)} bytes")
    method, cls = _split_type(kind)
    attributes: list[tuple[int, Any]] = []
    unknown: list[int] = []
    signed = mac = b""
    mac_sha256 = fingerprint = False
    offset = HEADER_SIZE
    while offset < len(datagram):
        if offset + 4 > len(datagram):
            raise StunError("truncated attribute header")
        attr, size = struct.unpack_from("!HH", datagram, offset)
        start = offset + 4
        end = start + size
        if end > len(datagram):
            raise StunError(f"attribute {attr:#06x} runs past the end")
        value = datagram[start:end]
        offset = end + (-size % 4)
        if offset > len(datagram):
            raise StunError("attribute padding runs past the end")
        if fingerprint:
            break  # nothing counts after FINGERPRINT
        if attr == Attr.FINGERPRINT:
            if size != 4:
                raise StunError("FINGERPRINT of wrong length")
            prefix = _with_length(datagram[: start - 4], end - HEADER_SIZE)
            if struct.unpack("!I", value)[0] != _fingerprint(prefix):
                raise StunError("FINGERPRINT does not match")
            fingerprint = True
            continue
        if mac_sha256 or (mac and attr != Attr.MESSAGE_INTEGRITY_SHA256):
            continue  # not covered by the integrity: ignored (RFC 8489 14.5)
        if attr in (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256):
            sha = attr == Attr.MESSAGE_INTEGRITY_SHA256
            if (not sha and size != 20) or (sha and not (16 <= size <= 32 and size % 4 == 0)):
                raise StunError("MESSAGE-INTEGRITY of wrong length")
            if sha or not mac:
                signed = _with_length(datagram[: start - 4], end - HEADER_SIZE)
                mac, mac_sha256 = bytes(value), sha
            continue
        if not _known(attr):
            if attr < 0x8000:
                unknown.append(attr)
            attributes.append((attr, bytes(value)))
            continue
        attributes.append((attr, _unpack_value(attr, value, transaction_id)))
    return Message(
        method,
        Class(cls),
        transaction_id,
        tuple(attributes),
        tuple(unknown),
        signed,
        mac,
        mac_sha256,
        fingerprint,
    )


def _with_length(prefix: bytes, length: int) -> bytes:
    """The message up to an attribute, its length field saying the message ends after it."""
    return prefix[:2] + struct.pack("!H", length) + prefix[4:]


def check_integrity(message: Message, key: bytes) -> bool:
    """The parsed message carries MESSAGE-INTEGRITY(-SHA256) and it matches `key`."""
    if not message.mac:
        return False
    expected = _mac(key, message.signed, message.mac_sha256)[: len(message.mac)]
    return hmac.compare_digest(expected, message.mac)


def short_term_key(password: str) -> bytes:
    # RFC 8489 9.1.1 applies OpaqueString to the password; ICE passwords are ASCII already
    return password.encode("utf-8")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """MD5(username ":" realm ":" password) (RFC 8489 9.2.2); the password given prepared."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).digest()


def error_response(request: Message, code: int, reason: str, *extra: tuple[int, Any]) -> Message:
    return request.reply(Class.ERROR, ((Attr.ERROR_CODE, (code, reason)), *extra))
