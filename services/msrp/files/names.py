"""A safe, unique name for a received file, with no I/O.

The name comes from the peer (``a=file-selector`` name). Before it goes near
the download directory it loses every directory part (``/`` and ``\\``),
control and format characters (NUL, CR, bidi overrides that disguise an
extension), characters Windows forbids, leading dots (no hidden files, and
``.<name>.partial`` stays ours), trailing dots and spaces; a Windows device
name (``CON``, ``com1.txt``) gets a ``_`` in front, and what is left empty
(``..``, ``""``, ``\0``) becomes ``file``. It is cut to `MAX_NAME_BYTES`
of UTF-8, keeping a short extension, and a name already in the directory
(compared case-insensitively, for case-insensitive file systems) becomes
``name (1).ext``, ``name (2).ext``...
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

__all__ = ["MAX_NAME_BYTES", "safe_name"]

MAX_NAME_BYTES = 255  # NAME_MAX of Linux, macOS and Windows file systems
DEFAULT_NAME = "file"
_MAX_EXTENSION = 16  # UTF-8 bytes, dot included: longer is not an extension
_FORBIDDEN = set('/\\<>:"|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{device}{n}" for device in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")
}


def safe_name(proposed: str, existing: Collection[str] = (),
              max_bytes: int = MAX_NAME_BYTES) -> str:
    """A name for `proposed` inside one directory holding `existing` names."""
    if max_bytes < 32:
        raise ValueError("max_bytes leaves no room for a name")
    name = _clean(proposed)
    stem, extension = _split(name)
    taken = {entry.casefold() for entry in existing}
    counter = 0
    while True:
        suffix = f" ({counter})" if counter else ""
        candidate = _fit(stem, suffix + extension, max_bytes)
        if candidate.casefold() not in taken:
            return candidate
        counter += 1


def _clean(proposed: str) -> str:
    name = re.split(r"[/\\]", proposed)[-1]  # the last part of a path, either style
    name = unicodedata.normalize("NFC", name)
    name = "".join(_replace(c) for c in name)
    name = name.lstrip(". ").rstrip(". ")
    name = re.sub(r"_{2,}", "_", name)
    if not name.strip("_"):
        return DEFAULT_NAME
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        name = "_" + name
    return name


def _replace(char: str) -> str:
    if char in _FORBIDDEN:
        return "_"
    category = unicodedata.category(char)
    # Cc: NUL and other controls; Cf: bidi overrides and invisible marks;
    # Cs: lone surrogates (not UTF-8); Zl/Zp: line and paragraph separators.
    if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return "_"
    if category == "Zs":
        return " "
    return char


def _split(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name[dot:].encode("utf-8")) > _MAX_EXTENSION or " " in name[dot:]:
        return name, ""
    return name[:dot], name[dot:]


def _fit(stem: str, tail: str, max_bytes: int) -> str:
    room = max_bytes - len(tail.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > room:
        # Cut on a character boundary, then keep whole grapheme-ish marks
        # from dangling: drop a trailing combining mark left alone.
        stem = encoded[:room].decode("utf-8", "ignore")
        stem = stem.rstrip(" .")
        while stem and unicodedata.combining(stem[-1]):
            stem = stem[:-1]
        stem = stem or DEFAULT_NAME[: max(room, 1)]
    return stem + tail
