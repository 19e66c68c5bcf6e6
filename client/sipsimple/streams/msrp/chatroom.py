"""Chat rooms (RFC 7701) as ChatStream sees them, with no I/O.

A conference focus says in its m-line what its room offers
(``a=chatroom:nickname private-messages``); a ChatStream reads it as
`chatroom_capabilities` only when the peer is a focus (``isfocus``) and CPIM
is in use, as the original SDK did. Private messages (recipients other than
the peer, courtesy recipients) need ``private-messages``; `NICKNAME` requests
need ``nickname``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipsimple.payloads.cpim import ChatIdentity

__all__ = ["RecipientsError", "check_recipients", "same_identity"]


class RecipientsError(ValueError):
    """Recipients the peer cannot take."""


def same_identity(one: ChatIdentity, other: ChatIdentity) -> bool:
    """The same user at the same host (scheme, port and parameters aside)."""
    def key(identity: ChatIdentity) -> tuple[str | None, str]:
        uri = identity.uri
        return getattr(uri, "user", None), str(getattr(uri, "host", uri)).lower()
    return key(one) == key(other)


def check_recipients(recipients: Sequence[ChatIdentity] | None,
                     courtesy_recipients: Sequence[ChatIdentity],
                     remote: ChatIdentity | None, private_allowed: bool) -> None:
    """RecipientsError unless the message goes to the peer alone (None: by default),
    or the peer is a focus that takes private messages (RFC 7701)."""
    if recipients is not None and not recipients:
        raise RecipientsError("recipients must name at least one identity")
    others = recipients is not None and not (
        remote is not None and len(recipients) == 1 and same_identity(recipients[0], remote))
    if (others or courtesy_recipients) and not private_allowed:
        raise RecipientsError(
            "the peer does not support private messages (recipients other than the peer "
            "and courtesy recipients need a conference focus with "
            "a=chatroom:private-messages and CPIM)")
