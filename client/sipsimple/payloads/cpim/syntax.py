"""What the CPIM syntax allows, shared by the modules of the package.

The content type and default namespace, the size limits of a message, the
patterns of names, tokens, media types and language tags, and the error for
bytes that break them.
"""

from __future__ import annotations

import re

from sipsimple.payloads.errors import ParserError

CPIM_CONTENT_TYPE = "message/cpim"
CPIM_NAMESPACE = "urn:ietf:params:cpim-headers:"
MAX_CPIM_SIZE = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 256

_NAME = r"[A-Za-z0-9!#$%&'*+\-^_`|~]+"
_NAME_RE = re.compile(_NAME)
_HEADER_NAME_RE = re.compile(rf"(?:({_NAME})\.)?({_NAME})")
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&\-^_.+]+/[A-Za-z0-9!#$&\-^_.+]+")
_LANG_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_BAD_URI_RE = re.compile(r"[\x00-\x20<>\"\x7f]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class CPIMParseError(ParserError):
    """Bytes that are not a Message/CPIM message (answer 400 / REPORT 400)."""
