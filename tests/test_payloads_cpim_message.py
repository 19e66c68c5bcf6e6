"""sipsimple.payloads.cpim.message: CPIMMessage, its encoding and the public encode/decode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core import parse_uri
from sipsimple.payloads import BuilderError
from sipsimple.payloads.cpim import (
    CPIM_NAMESPACE,
    CPIMHeader,
    CPIMIdentity,
    CPIMMessage,
    CPIMNamespace,
    CPIMParseError,
    MultilingualText,
)
from tests.harness.fuzz import mutations

# RFC 3862 section 6, with its outer MIME header.
RFC_EXAMPLE = (
    b"Content-type: Message/CPIM\r\n"
    b"\r\n"
    b"From: MR SANDERS <im:piglet@100akerwood.com>\r\n"
    b"To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n"
    b"DateTime: 2000-12-13T13:40:00-08:00\r\n"
    b"Subject: the weather will be fine today\r\n"
    b"Subject:;lang=fr beau temps prevu pour aujourd'hui\r\n"
    b"NS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n"
    b"Require: MyFeatures.VitalMessageOption\r\n"
    b"MyFeatures.VitalMessageOption: Confirmation-requested\r\n"
    b"MyFeatures.WackyMessageOption: Use-silly-font\r\n"
    b"\r\n"
    b"Content-type: text/xml; charset=utf-8\r\n"
    b"Content-ID: <1234567890@foo.com>\r\n"
    b"\r\n"
    b"<body>\r\n"
    b"Here is the text of my message.\r\n"
    b"</body>\r\n"
)
FEATURES = "mid:MessageFeatures@id.foo.com"


def test_rfc3862_section6_example() -> None:
    message = CPIMMessage.decode_mime(RFC_EXAMPLE)
    assert message.sender == CPIMIdentity(parse_uri("im:piglet@100akerwood.com"), "MR SANDERS")
    assert message.recipients == (
        CPIMIdentity(parse_uri("im:eeyore@100akerwood.com"), "Depressed Donkey"),
    )
    assert message.courtesy_recipients == ()
    assert message.timestamp == datetime(2000, 12, 13, 21, 40, tzinfo=UTC)
    assert message.timestamp.utcoffset() == timedelta(hours=-8)
    assert message.subject == "the weather will be fine today"
    assert message.subject.language is None
    assert message.subject.translations == {"fr": "beau temps prevu pour aujourd'hui"}
    assert message.subject.get_translation("FR") == "beau temps prevu pour aujourd'hui"
    assert message.namespaces == (CPIMNamespace(FEATURES, "MyFeatures"),)
    assert message.required == ("MyFeatures.VitalMessageOption",)
    assert message.header("VitalMessageOption", FEATURES) == "Confirmation-requested"
    assert message.header("WackyMessageOption", FEATURES) == "Use-silly-font"
    assert message.headers("WackyMessageOption", FEATURES)[0].prefix == "MyFeatures"
    assert message.content_type == "text/xml"
    assert message.charset == "utf-8"
    assert message.content_headers == (("Content-ID", "<1234567890@foo.com>"),)
    assert message.content == b"<body>\r\nHere is the text of my message.\r\n</body>\r\n"
    # The body alone (as MSRP and MESSAGE carry it) reads the same.
    assert CPIMMessage.decode(RFC_EXAMPLE.split(b"\r\n\r\n", 1)[1]) == message
    assert CPIMMessage.decode(message.encode()) == message
    assert CPIMMessage.decode_mime(message.encode_mime()) == message


def test_encoding_order_and_form() -> None:
    message = CPIMMessage(
        content="héllo",
        content_type="Text/Plain",
        content_parameters=(("charset", "utf-8"),),
        sender=CPIMIdentity("sip:alice@example.com", "Alice"),
        recipients=(CPIMIdentity("sip:bob@example.com"),),
        courtesy_recipients=(CPIMIdentity("sip:carol@example.com", 'C "the" \\ one'),),
        subject=MultilingualText("hi", de="hallo"),
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        required=("imdn.Message-ID",),
        additional_headers=(CPIMHeader("Message-ID", "abc", "urn:ietf:params:imdn", "imdn"),),
    )
    assert message.encode() == (
        b'From: "Alice" <sip:alice@example.com>\r\n'
        b"To: <sip:bob@example.com>\r\n"
        b'cc: "C \\"the\\" \\\\ one" <sip:carol@example.com>\r\n'
        b"DateTime: 2026-01-02T03:04:05Z\r\n"
        b"Subject: hi\r\n"
        b"Subject:;lang=de hallo\r\n"
        b"NS: imdn <urn:ietf:params:imdn>\r\n"
        b"Require: imdn.Message-ID\r\n"
        b"imdn.Message-ID: abc\r\n"
        b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"h\xc3\xa9llo"
    )


def test_outer_content_type_must_be_cpim() -> None:
    with pytest.raises(CPIMParseError, match="not message/cpim"):
        CPIMMessage.decode_mime(b"Content-Type: text/plain\r\n\r\nFrom: <sip:a@b>\r\n\r\n\r\n")
    assert (
        CPIMMessage.decode_mime(b"Content-Type: message/CPIM; x=y\r\n\r\n\r\n\r\n").content == b""
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"content_type": "text"},
        {"content_parameters": (("bad name", "x"),)},
        {"content_headers": (("Content-Type", "text/html"),)},
        {"content_headers": (("X-A", "line\r\nbreak"),)},
        {"content_headers": (("bad name", "v"),)},
        {"timestamp": datetime(2000, 1, 1)},  # naive
        {"timestamp": "2000-01-01"},
        {"required": ("not valid",)},
        {"subject": MultilingualText("a", {"x y": "b"})},
        {"subject": MultilingualText("a", {"fr": "b"}, language="FR")},
        {"additional_headers": (CPIMHeader("From", "x"),)},
        {"additional_headers": (CPIMHeader("bad name", "x"),)},
        {"additional_headers": (CPIMHeader("X", "x", "urn:x"),)},  # needs a prefix
        {
            "additional_headers": (
                CPIMHeader("X", "x", "urn:x", "p"),
                CPIMHeader("Y", "y", "urn:y", "p"),
            )
        },
        {"additional_headers": (CPIMHeader("X", "x", "urn: x", "p"),)},
        {"additional_headers": ("X: y",)},
        {"namespaces": (CPIMNamespace("urn:other"),)},
        {"namespaces": (CPIMNamespace("urn:x", "bad prefix"),)},
        {"subject": MultilingualText("\ud800")},
    ],
)
def test_builder_refuses_what_cpim_cannot_carry(changes: dict[str, Any]) -> None:
    with pytest.raises(BuilderError):
        CPIMMessage(b"body", **changes).encode()


# -- round trips --------------------------------------------------------------

names = st.from_regex(r"[A-Za-z][A-Za-z0-9\-_]{0,10}", fullmatch=True)
languages = st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True)
any_text = st.text(max_size=30)
uris = st.builds(
    lambda user, host, scheme: parse_uri(f"{scheme}:{user}@{host}"),
    st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}\.(com|org)", fullmatch=True),
    st.sampled_from(["sip", "sips", "im", "pres"]),
)
identities = st.builds(CPIMIdentity, uris, st.none() | any_text)
timestamps = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)


@st.composite
def subjects(draw: st.DrawFn) -> MultilingualText:
    language = draw(st.none() | languages)
    tags = draw(st.lists(languages, max_size=3, unique_by=str.lower))
    tags = [tag for tag in tags if language is None or tag.lower() != language.lower()]
    translations = {tag: draw(any_text) for tag in tags}
    return MultilingualText(draw(any_text), translations, language=language)


@st.composite
def extension_headers(draw: st.DrawFn) -> tuple[tuple[CPIMNamespace, ...], tuple[CPIMHeader, ...]]:
    bindings = draw(
        st.dictionaries(
            names, st.from_regex(r"urn:[a-z]{1,6}:[a-z]{1,6}", fullmatch=True), max_size=3
        )
    )
    headers = []
    for _ in range(draw(st.integers(0, 4))):
        prefix = draw(st.none() | st.sampled_from(sorted(bindings))) if bindings else None
        name = draw(
            names.filter(
                lambda n: (
                    n.lower() not in {"from", "to", "cc", "datetime", "subject", "ns", "require"}
                )
            )
        )
        params = tuple(draw(st.lists(st.tuples(names, any_text), max_size=2)))
        namespace = bindings[prefix] if prefix is not None else CPIM_NAMESPACE
        headers.append(CPIMHeader(name, draw(any_text), namespace, prefix, params))
    used = []
    for header in headers:
        if header.prefix is not None and header.prefix not in used:
            used.append(header.prefix)
    return tuple(CPIMNamespace(bindings[p], p) for p in used), tuple(headers)


mime_values = st.text(max_size=20).map(
    lambda v: "".join(c for c in v if c >= " " and c != "\x7f").strip(" \t")
)


@st.composite
def messages(draw: st.DrawFn) -> CPIMMessage:
    namespaces, headers = draw(extension_headers())
    return CPIMMessage(
        content=draw(st.binary(max_size=100)),
        content_type=draw(st.from_regex(r"[a-z]{1,8}/[a-z0-9.+\-]{1,12}", fullmatch=True)),
        content_parameters=tuple(draw(st.lists(st.tuples(names, any_text), max_size=2))),
        content_headers=tuple(
            draw(
                st.lists(
                    st.tuples(names.filter(lambda n: n.lower() != "content-type"), mime_values),
                    max_size=2,
                )
            )
        ),
        sender=draw(st.none() | identities),
        recipients=tuple(draw(st.lists(identities, max_size=3))),
        courtesy_recipients=tuple(draw(st.lists(identities, max_size=2))),
        subject=draw(st.none() | subjects()),
        timestamp=draw(st.none() | timestamps),
        required=tuple(
            draw(
                st.lists(
                    st.from_regex(r"([A-Za-z]{1,5}\.)?[A-Za-z\-]{1,8}", fullmatch=True), max_size=2
                )
            )
        ),
        namespaces=namespaces,
        additional_headers=headers,
    )


@settings(max_examples=300, deadline=None)
@given(messages())
def test_build_then_parse_round_trip(message: CPIMMessage) -> None:
    data = message.encode()
    assert CPIMMessage.decode(data) == message
    assert CPIMMessage.decode_mime(message.encode_mime()) == message


# -- fuzz -----------------------------------------------------------------------

SAMPLES = [
    RFC_EXAMPLE.split(b"\r\n\r\n", 1)[1],
    CPIMMessage(
        b"hello",
        sender=CPIMIdentity("sip:a@example.com", 'A "q"'),
        recipients=(CPIMIdentity("sip:b@example.com"),),
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        subject=MultilingualText("s\\x", fr="t"),
        additional_headers=(
            CPIMHeader(
                "Disposition-Notification",
                "positive-delivery, display",
                "urn:ietf:params:imdn",
                "imdn",
                (("p", "a b"),),
            ),
        ),
    ).encode(),
]
SPECIAL = [
    b"\r\n",
    b"\n",
    b"\r",
    b":",
    b";",
    b" ",
    b"<",
    b">",
    b'"',
    b"\\",
    b"\\u12",
    b".",
    b"\x00",
    b"\xff",
    b"NS: p <urn:p>\r\n",
    b";lang=",
    b"0" * 50,
]


def test_seeded_fuzz_of_mutated_messages() -> None:
    parsed = 0
    for data in mutations(0xC919, SAMPLES, 4000, SPECIAL):
        try:
            message = CPIMMessage.decode(data)
        except CPIMParseError:
            continue
        except Exception as exc:  # pragma: no cover - the assertion names the input
            raise AssertionError(f"{type(exc).__name__} for {data!r}") from exc
        parsed += 1
        try:
            again = message.encode()
        except BuilderError:
            continue  # parsed leniently but not ours to emit (e.g. a redefined default NS)
        assert CPIMMessage.decode(again) == message
    assert parsed > 100


def test_values_are_immutable_and_copyable() -> None:
    import copy
    import pickle

    text = MultilingualText("hi", {"fr": "salut"}, language="en")
    with pytest.raises(AttributeError):
        text.language = "de"  # type: ignore[misc]
    with pytest.raises(TypeError):
        text.translations["de"] = "hallo"  # type: ignore[index]
    message = CPIMMessage.decode(RFC_EXAMPLE.split(b"\r\n\r\n", 1)[1])
    for clone in (pickle.loads(pickle.dumps(message)), copy.deepcopy(message)):
        assert clone == message
        assert clone.subject is not None
        assert clone.subject.translations == {"fr": "beau temps prevu pour aujourd'hui"}
    assert pickle.loads(pickle.dumps(text)) == text
