"""Message/CPIM (RFC 3862): the wrapper chat and page-mode messages share.

A CPIM message is three parts: message headers (From, To, cc, DateTime,
Subject, NS, Require and namespaced extension headers such as
``imdn.Message-ID``), a blank line, the encapsulated MIME headers
(Content-Type and the others), a blank line, and the content bytes.
`CPIMMessage.decode` reads it as carried in a MESSAGE or MSRP SEND body (the
transport's ``Content-Type: message/cpim`` is outside); `decode_mime` also reads
the outer MIME headers, as RFC 3862 section 6 shows the example.

Header values are UTF-8. Quoted strings, Subject and extension values use the
RFC 3862 escapes (``\\\\``, ``\\"``, ``\\b``, ``\\t``, ``\\n``, ``\\r``,
``\\uXXXX``) for characters the syntax could not otherwise carry; an unknown
escape is kept as written. Lines may end in CRLF or a bare LF on input and end
in CRLF on output; a line starting with white space continues the previous one.
"""

from sipsimple.payloads.cpim.headers import CPIMHeader, CPIMNamespace, MultilingualText
from sipsimple.payloads.cpim.identities import ChatIdentity, CPIMIdentity
from sipsimple.payloads.cpim.message import CPIMMessage
from sipsimple.payloads.cpim.syntax import (
    CPIM_CONTENT_TYPE,
    CPIM_NAMESPACE,
    MAX_CPIM_SIZE,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    CPIMParseError,
)

__all__ = [
    "CPIM_CONTENT_TYPE",
    "CPIM_NAMESPACE",
    "MAX_CPIM_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "CPIMHeader",
    "CPIMIdentity",
    "CPIMMessage",
    "CPIMNamespace",
    "CPIMParseError",
    "ChatIdentity",
    "MultilingualText",
]
