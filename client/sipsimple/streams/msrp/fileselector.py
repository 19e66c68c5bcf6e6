"""The SDP attributes of an MSRP file transfer (RFC 5547), with no I/O.

``a=file-selector:name:"x.pdf" type:application/pdf size:42 hash:sha-1:AB:CD:...``
names the file; `FileSelector.parse` reads the attribute's value and `str()`
writes it. ``a=file-transfer-id`` tells a new transfer from a re-offer of the
same one, ``a=file-disposition`` is ``attachment`` for a transfer (RFC 5547
section 6) and ``a=file-range`` (section 8.2, 1-based, inclusive, ``*`` for the
end of the file) asks for part of a file, which is how an interrupted transfer
resumes.

The peer writes these, so every reader raises `ValueError` on what it cannot
read and nothing else. The file name is percent-encoded UTF-8 inside the
quotes (section 6: no NUL, CR, LF, double quote or raw percent); the name is
decoded here but never trusted (a type that is no MIME type is dropped,
not refused): the receiver makes it safe before it goes
near a directory. The original SDK wrote ``hash:sha1:``; we write
``sha-1`` (the IANA name, RFC 5547 section 6) and read both.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

__all__ = [
    "FileRange",
    "FileSelector",
    "format_file_range",
    "parse_file_disposition",
    "parse_file_range",
    "parse_file_transfer_id",
]

HASH_ALGORITHM = "sha-1"
SHA1_SIZE = 20
_HASH_ALIASES = {"sha-1": HASH_ALGORITHM, "sha1": HASH_ALGORITHM}
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")
_HASH_VALUE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+")
# Bytes a name may carry raw in the quotes (RFC 5547 filename-char, ASCII
# part); everything else is percent-encoded when we write.
_NAME_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"%')


@dataclass(frozen=True)
class FileSelector:
    """What RFC 5547 says of a file: name, MIME type, size and SHA-1.

    Each may be absent (None): a receiver offering to take a file may not
    know them. `hash` is the 20-byte SHA-1 digest. `path` is the sender's
    local file (never in the SDP, not compared).
    """

    name: str | None = None
    type: str | None = None
    size: int | None = None
    hash: bytes | None = None
    path: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 0:
            raise ValueError(f"size must not be negative, got {self.size}")
        if self.hash is not None and len(self.hash) != SHA1_SIZE:
            raise ValueError(f"a SHA-1 digest has {SHA1_SIZE} bytes, got {len(self.hash)}")
        if self.type is not None and not _MIME_TYPE.fullmatch(self.type.split(";", 1)[0]):
            raise ValueError(f"{self.type!r} is not a MIME type")
        if self.name is not None:
            if not self.name or "\0" in self.name:
                raise ValueError("a file name is not empty and has no NUL")
            self.name.encode("utf-8")  # UnicodeEncodeError (a ValueError): lone surrogates

    @property
    def hash_text(self) -> str | None:
        """The digest as RFC 5547 writes it: colon-separated upper-case hex."""
        return None if self.hash is None else ":".join(f"{b:02X}" for b in self.hash)

    def __str__(self) -> str:
        selectors = []
        if self.name is not None:
            quoted = urllib.parse.quote(self.name, safe=_NAME_SAFE, encoding="utf-8")
            selectors.append(f'name:"{quoted}"')
        if self.type is not None:
            selectors.append(f"type:{self.type}")
        if self.size is not None:
            selectors.append(f"size:{self.size}")
        if self.hash is not None:
            selectors.append(f"hash:{HASH_ALGORITHM}:{self.hash_text}")
        return " ".join(selectors)

    @classmethod
    def parse(cls, value: str) -> FileSelector:
        """The selector of an ``a=file-selector`` value; unknown selectors are skipped."""
        name = type_ = size = digest = None
        for key, item in _selectors(value):
            if key == "name":
                name = _read_name(item)
            elif key == "type":
                # A type that is no MIME type (the seed's own example has
                # ``type:com.adobe.pdf``) is as good as none: the bytes still come.
                if _MIME_TYPE.fullmatch(item.split(";", 1)[0]):
                    type_ = item
            elif key == "size":
                if not item.isascii() or not item.isdigit():
                    raise ValueError(f"bad file size {item!r}")
                size = int(item)
            elif key == "hash":
                algorithm, _, hex_value = item.partition(":")
                if _HASH_ALIASES.get(algorithm.lower()) != HASH_ALGORITHM:
                    continue  # another algorithm: RFC 5547 allows several, we know SHA-1
                if not _HASH_VALUE.fullmatch(hex_value):
                    raise ValueError(f"bad hash value {hex_value!r}")
                digest = bytes.fromhex(hex_value.replace(":", ""))
                if len(digest) != SHA1_SIZE:
                    raise ValueError(f"a SHA-1 digest has {SHA1_SIZE} bytes")
        return cls(name=name, type=type_, size=size, hash=digest)


def _selectors(value: str) -> list[tuple[str, str]]:
    """``key:value`` pairs split on spaces outside double quotes."""
    pairs = []
    position, length = 0, len(value)
    while position < length:
        if value[position] == " ":
            position += 1
            continue
        start, quoted = position, False
        while position < length and (quoted or value[position] != " "):
            if value[position] == '"':
                quoted = not quoted
            position += 1
        if quoted:
            raise ValueError(f"unterminated quote in {value[start:]!r}")
        key, colon, item = value[start:position].partition(":")
        if not colon or not _TOKEN.fullmatch(key):
            raise ValueError(f"bad selector {value[start:position]!r}")
        pairs.append((key.lower(), item))
    return pairs


def _read_name(item: str) -> str:
    if len(item) < 3 or item[0] != '"' or item[-1] != '"' or '"' in item[1:-1]:
        raise ValueError(f"a file name is quoted, got {item!r}")
    raw = item[1:-1]
    if any(c in raw for c in "\0\r\n"):
        raise ValueError("a file name has no NUL, CR or LF")
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise ValueError(f"bad percent-encoding in {raw!r}")
    try:
        # Non-ASCII sent raw (allowed: filename-char reaches %xFF) arrives as
        # text already; encode it back so both spellings decode alike.
        name = urllib.parse.unquote_to_bytes(raw.encode("utf-8", "surrogateescape")).decode("utf-8")
    except UnicodeError as error:
        raise ValueError(f"the file name is not UTF-8: {raw!r}") from error
    if not name or "\0" in name:
        raise ValueError("a file name is not empty and has no NUL")
    return name


@dataclass(frozen=True)
class FileRange:
    """``a=file-range``: 0-based `start`, `stop` exclusive or None for the end.

    The attribute is 1-based and inclusive (RFC 5547 section 8.2:
    ``1-*`` is the whole file); this holds offsets as Python slices do.
    """

    start: int = 0
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise ValueError(f"bad file range {self.start}..{self.stop}")


def parse_file_range(value: str) -> FileRange:
    match = re.fullmatch(r"([0-9]+)-([0-9]+|\*)", value.strip())
    if match is None:
        raise ValueError(f"bad file-range {value!r}")
    start = int(match.group(1))
    if start < 1:
        raise ValueError(f"a file-range starts at 1, got {value!r}")
    stop = None if match.group(2) == "*" else int(match.group(2))
    if stop is not None and stop < start - 1:
        raise ValueError(f"a file-range ends after it starts, got {value!r}")
    return FileRange(start - 1, stop)


def format_file_range(file_range: FileRange) -> str:
    stop = "*" if file_range.stop is None else str(file_range.stop)
    return f"{file_range.start + 1}-{stop}"


def parse_file_transfer_id(value: str) -> str:
    value = value.strip()
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"bad file-transfer-id {value!r}")
    return value


def parse_file_disposition(value: str) -> str:
    value = value.strip().lower()
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"bad file-disposition {value!r}")
    return value
