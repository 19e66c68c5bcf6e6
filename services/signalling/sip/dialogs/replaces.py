"""Replaces (RFC 3891) helpers for attended transfer.

The transferor knows a dialog (with the transfer target) by its own
`DialogId`; the target knows the same dialog with the tags swapped, and a
Replaces header is written from the target's side (RFC 3891 section 3):
``to-tag`` is the target's local tag (our remote tag), ``from-tag`` ours.

A Replaces travels to the transferee inside the Refer-To URI as a URI header
(RFC 3515 2.1, RFC 3261 19.1.1): `SIPURI` escapes ``;``, ``=`` and ``@`` of
the value when it is serialized, and unescapes them when parsed, so the
helpers only place and take the value.
"""

from __future__ import annotations

from dataclasses import replace

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core.headers import (
    GenericHeader,
    Header,
    ReferToHeader,
    ReplacesHeader,
    header_type,
)
from sipsimple_services.signalling.sip.dialogs.dialog import DialogId

__all__ = ["invite_from_refer_to", "refer_to_with_replaces", "replaces_for", "replaces_in"]


def replaces_for(dialog: DialogId, *, early_only: bool = False) -> ReplacesHeader:
    """The Replaces header naming ``dialog`` (our id of it) to its remote party."""
    return ReplacesHeader(dialog.call_id, dialog.remote_tag, dialog.local_tag, early_only)


def refer_to_with_replaces(
    target: SIPURI, replaces: ReplacesHeader, display_name: str | None = None
) -> ReferToHeader:
    """A Refer-To for ``target`` carrying ``replaces`` as a URI header."""
    headers = {k: v for k, v in target.headers.items() if k.lower() != "replaces"}
    headers["Replaces"] = str(replaces)
    return ReferToHeader(replace(target, headers=headers), display_name)


def replaces_in(refer_to: ReferToHeader) -> ReplacesHeader | None:
    """The Replaces a Refer-To URI carries, None without one; `SIPParseError` if invalid."""
    uri = refer_to.uri
    if not isinstance(uri, SIPURI):
        return None
    for name, value in uri.headers.items():
        if name.lower() == "replaces":
            return ReplacesHeader.parse(value)
    return None


def invite_from_refer_to(refer_to: ReferToHeader) -> tuple[SIPURI, tuple[Header, ...]]:
    """What the transferee's INVITE uses: the Request-URI without URI headers, and
    the headers the URI asked for (RFC 3261 19.1.5; Replaces typed).

    Raises `SIPParseError` for a Refer-To that is no SIP URI or has a bad header.
    """
    uri = refer_to.uri
    if not isinstance(uri, SIPURI):
        raise SIPParseError(f"Refer-To {uri} is no SIP URI")
    if uri.parameter("method") not in (None, "INVITE"):
        raise SIPParseError(f"Refer-To asks for method {uri.parameter('method')}")
    params = {k: v for k, v in uri.parameters.items() if k.lower() != "method"}
    headers: list[Header] = []
    for name, value in uri.headers.items():
        if name.lower() == "body":
            continue  # RFC 3261 19.1.5: a body is not a header
        kind = header_type(name)
        headers.append(kind.parse(value) if kind is not None else GenericHeader(name, value))
    return replace(uri, headers={}, parameters=params), tuple(headers)
