"""sipsimple.payloads.xml: the hardened parser every XML payload goes through.

Hostile documents (entity bombs, external entities, DTDs, oversized bodies)
are refused by each format's parser with that format's error, marked unsafe,
and nothing is expanded or read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.payloads import ParserError
from sipsimple.payloads.conference import Conference, ConferenceParseError
from sipsimple.payloads.imdn import IMDNNotification, IMDNParseError
from sipsimple.payloads.iscomposing import IsComposingMessage, IsComposingParseError
from sipsimple.payloads.xml import MAX_DEPTH, XMLParseError, check_text, parse_xml, serialize

PARSERS: list[tuple[Callable[[bytes], Any], type[XMLParseError], str]] = [
    (parse_xml, XMLParseError, "doc"),
    (IsComposingMessage.parse, IsComposingParseError, "isComposing"),
    (IMDNNotification.parse, IMDNParseError, "imdn"),
    (Conference.parse, ConferenceParseError, "conference-info"),
]
IDS = ["xml", "iscomposing", "imdn", "conference"]

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE {root} [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<{root}>&lol9;</{root}>
"""


def hostile_documents(root: str, secret_file: Path) -> dict[str, str]:
    uri = secret_file.as_uri()
    return {
        "billion laughs": BILLION_LAUGHS.format(root=root),
        "external entity": (
            f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{uri}">]><{root}>&xxe;</{root}>'
        ),
        "external parameter entity": (
            f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "{uri}"> %p;]><{root}/>'
        ),
        "external DTD": f'<!DOCTYPE {root} SYSTEM "{uri}"><{root}/>',
        "internal DTD": f"<!DOCTYPE {root} [<!ELEMENT {root} ANY>]><{root}/>",
        "unparsed entity": (
            f'<!DOCTYPE {root} [<!NOTATION n SYSTEM "x"><!ENTITY u SYSTEM "{uri}" NDATA n>]>'
            f"<{root}/>"
        ),
    }


@pytest.mark.parametrize(("parse", "error", "root"), PARSERS, ids=IDS)
@pytest.mark.parametrize(
    "kind",
    [
        "billion laughs",
        "external entity",
        "external parameter entity",
        "external DTD",
        "internal DTD",
        "unparsed entity",
    ],
)
def test_hostile_documents_are_refused_unexpanded(
    parse: Callable[[bytes], Any],
    error: type[XMLParseError],
    root: str,
    kind: str,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    document = hostile_documents(root, secret)[kind]
    with pytest.raises(error) as info:
        parse(document.encode())
    assert info.value.unsafe
    assert "unsafe XML refused" in str(info.value)
    assert "TOP-SECRET" not in str(info.value)
    assert isinstance(info.value, ParserError)


@pytest.mark.parametrize(("parse", "error", "root"), PARSERS, ids=IDS)
def test_oversized_body_is_refused_before_parsing(
    parse: Callable[[bytes], Any], error: type[XMLParseError], root: str
) -> None:
    body = f"<{root}>".encode() + b"x" * (10 * 1024 * 1024) + f"</{root}>".encode()
    with pytest.raises(error, match="exceeds the limit"):
        parse(body)


@pytest.mark.parametrize(("parse", "error", "root"), PARSERS, ids=IDS)
def test_undefined_entity_and_garbage_are_malformed_not_unsafe(
    parse: Callable[[bytes], Any], error: type[XMLParseError], root: str
) -> None:
    for document in [f"<{root}>&nope;</{root}>", f"<{root}>", "", "\xff\xfe<", f"<{root}/>junk"]:
        with pytest.raises(error) as info:
            parse(document.encode("latin-1"))
        assert not info.value.unsafe


def test_size_limit_is_configurable() -> None:
    document = b"<a>" + b"x" * 100 + b"</a>"
    assert parse_xml(document).text == "x" * 100
    with pytest.raises(XMLParseError, match="exceeds the limit"):
        parse_xml(document, max_size=50)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    ok = "<a>" * MAX_DEPTH + "</a>" * MAX_DEPTH
    parse_xml(ok.encode())
    deep = "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)
    with pytest.raises(XMLParseError, match="nested deeper"):
        parse_xml(deep.encode())


def test_namespaces_predefined_entities_and_character_references() -> None:
    root = parse_xml(
        b'<?xml version="1.0" encoding="UTF-8"?><!-- c --><?pi x?>'
        b'<r xmlns="urn:a" xmlns:b="urn:b" b:at="1" plain="&quot;&#65;">'
        b"<b:c>&lt;&amp;&#x263A;</b:c></r>"
    )
    assert root.tag == "{urn:a}r"
    assert root.attrib == {"{urn:b}at": "1", "plain": '"A'}
    assert root[0].tag == "{urn:b}c"
    assert root[0].text == "<&\u263a"


def test_other_encodings_declared_in_the_document_are_read() -> None:
    root = parse_xml('<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>'.encode("latin-1"))
    assert root.text == "\xe9"
    root = parse_xml("<a>\u263a</a>".encode("utf-16"))
    assert root.text == "\u263a"


def test_serialize_escapes_and_reparses() -> None:
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "{urn:x}r", {"a": 'q"<&>\n\r\t', "{http://www.w3.org/XML/1998/namespace}lang": "en"}
    )
    child = ET.SubElement(root, "{urn:x}c")
    child.text = "a<b>&c\r\nd"
    ET.SubElement(root, "{urn:x}empty")
    data = serialize(root, "urn:x")
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    again = parse_xml(data)
    assert again.attrib["a"] == 'q"<&>\n\r\t'
    assert again.attrib["{http://www.w3.org/XML/1998/namespace}lang"] == "en"
    assert again[0].text == "a<b>&c\r\nd"
    assert again[1].tag == "{urn:x}empty"


def test_serialize_refuses_what_xml_cannot_carry() -> None:
    import xml.etree.ElementTree as ET

    from sipsimple.payloads import BuilderError

    root = ET.Element("{urn:x}r")
    root.text = "bell\x07"
    with pytest.raises(BuilderError):
        serialize(root, "urn:x")
    with pytest.raises(BuilderError):
        serialize(ET.Element("{urn:other}r"), "urn:x")
    with pytest.raises(BuilderError):
        check_text(5, "value")


def test_unknown_encoding_declaration_is_malformed() -> None:
    # Found by the is-composing fuzz test: expat asks Python for the codec.
    with pytest.raises(XMLParseError, match="malformed"):
        parse_xml(b'<?xml version="1.0" encoding="QTF-8"?><a/>')


@pytest.mark.parametrize(("parse", "error", "root"), PARSERS, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_input_raises_only_the_format_error(
    parse: Callable[[bytes], Any], error: type[XMLParseError], root: str, data: bytes
) -> None:
    with contextlib.suppress(error):
        parse(data)
    with contextlib.suppress(error):
        parse(f"<{root} xmlns='urn:x'>".encode() + data)
