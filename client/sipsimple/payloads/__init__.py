"""Message payload formats shared by chat, page-mode messages and conferences.

Pure code (no I/O, no clock): every module turns bytes into frozen values and
back, and raises its own subclass of `ParserError` for bad input.

- `sipsimple.payloads.cpim`: Message/CPIM (RFC 3862), `CPIMMessage`, `CPIMIdentity`.
- `sipsimple.payloads.imdn`: message/imdn+xml (RFC 5438) and its CPIM headers.
- `sipsimple.payloads.iscomposing`: application/im-iscomposing+xml (RFC 3994).
- `sipsimple.payloads.conference`: application/conference-info+xml (RFC 4575) and
  the merge of partial notifications into a `Conference`.
- `sipsimple.payloads.xml`: the hardened XML parser the three XML formats share.

The submodules are imported on demand so that importing this package costs nothing.
"""

from sipsimple.payloads.errors import BuilderError, ParserError, PayloadError

__all__ = ["BuilderError", "ParserError", "PayloadError"]
