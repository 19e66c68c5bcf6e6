"""sipsimple.payloads.cpim.identities: ChatIdentity and CPIMIdentity (RFC 3862 3.2, 4.1)."""

from __future__ import annotations

import pytest

from sipsimple.core import parse_uri
from sipsimple.payloads import BuilderError
from sipsimple.payloads.cpim import ChatIdentity, CPIMIdentity, CPIMMessage, CPIMParseError


@pytest.mark.parametrize(
    ("text", "display", "uri"),
    [
        ("<sip:a@b>", None, "sip:a@b"),
        ("sip:a@b", None, "sip:a@b"),
        ("MR  SANDERS <im:p@x>", "MR SANDERS", "im:p@x"),
        ('"Mr. \\"S\\" \\u263a" <im:p@x>', 'Mr. "S" \u263a', "im:p@x"),
        ('""<im:p@x>', "", "im:p@x"),
        ("Zoë <tel:+1-555>", "Zoë", "tel:+1-555"),
    ],
)
def test_identity_forms(text: str, display: str | None, uri: str) -> None:
    identity = CPIMIdentity.parse(text)
    assert identity.display_name == display
    assert identity.uri == parse_uri(uri)
    assert CPIMIdentity.parse(str(identity)) == identity


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<>",
        "<sip:a@b",
        '"unterminated <sip:a@b>',
        '"x" junk <sip:a@b>',
        "<sip:a b@c>",
        "<not a uri>",
        '"x"',
    ],
)
def test_invalid_identities(text: str) -> None:
    with pytest.raises(CPIMParseError):
        CPIMIdentity.parse(text)


def test_chat_identity_is_upgraded_and_checked() -> None:
    plain = ChatIdentity(parse_uri("sip:a@b"), "A")
    message = CPIMMessage(b"x", recipients=[plain])
    assert message.recipients == (CPIMIdentity(parse_uri("sip:a@b"), "A"),)
    with pytest.raises(BuilderError):
        CPIMMessage(b"x", recipients=["sip:a@b"])  # type: ignore[list-item]
    with pytest.raises(BuilderError):
        ChatIdentity("not a uri at all")  # type: ignore[arg-type]
