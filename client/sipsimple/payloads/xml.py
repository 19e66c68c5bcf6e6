"""The hardened XML parser and small tree helpers shared by the XML payloads.

Documents come from the network (NOTIFY and MESSAGE bodies, MSRP chunks), so
the parser refuses what these formats never need and an attacker would use:
any document type declaration (hence every entity definition: no billion laughs,
no external entity, no DTD fetched from anywhere), external entity references
and documents over `MAX_XML_SIZE` or nested deeper than `MAX_DEPTH`. It is built
directly on the standard library's expat binding, so no dependency is added and
nothing is ever resolved: the parser has no resolver to be tricked into I/O.

Trees are `xml.etree.ElementTree` elements with ``{namespace}name`` tags.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import NoReturn
from xml.parsers import expat

from sipsimple.payloads.errors import BuilderError, ParserError

__all__ = [
    "MAX_DEPTH",
    "MAX_XML_SIZE",
    "XMLParseError",
    "check_text",
    "child",
    "child_text",
    "children",
    "parse_xml",
    "serialize",
    "sub",
]

MAX_XML_SIZE = 1024 * 1024
MAX_DEPTH = 64

Element = ET.Element


class XMLParseError(ParserError):
    """Malformed or refused XML. `unsafe` is set for refused constructs (DTDs, entities)."""

    def __init__(self, message: str, *, unsafe: bool = False) -> None:
        super().__init__(message)
        self.unsafe = unsafe


def _qualified(name: str) -> str:
    # expat reports "namespace}local" with the separator we gave it.
    if "}" in name:
        return "{" + name
    return name


def parse_xml(
    data: bytes | str,
    *,
    error: type[XMLParseError] = XMLParseError,
    max_size: int = MAX_XML_SIZE,
) -> Element:
    """Parse `data` into a tree, raising `error` for anything malformed or refused."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"expected bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise error(f"document of {len(data)} bytes exceeds the limit of {max_size}")
    builder = ET.TreeBuilder()
    depth = 0

    def refuse(what: str) -> NoReturn:
        raise error(f"unsafe XML refused: {what}", unsafe=True)

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise error(f"elements nested deeper than {MAX_DEPTH}")
        builder.start(_qualified(name), {_qualified(k): v for k, v in attributes.items()})

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_qualified(name))

    def doctype(*_args: object) -> None:
        refuse("document type declaration")

    def entity(*_args: object) -> None:
        refuse("entity declaration")

    def external(*_args: object) -> int:
        refuse("external entity reference")

    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise error(
            f"malformed XML: {expat.errors.messages[exc.code]} at line {exc.lineno}, "
            f"column {exc.offset}"
        ) from None
    except XMLParseError:
        raise
    except (LookupError, ValueError) as exc:
        # LookupError: an encoding declaration naming no codec Python knows.
        raise error(f"malformed XML: {exc}") from None
    root = builder.close()
    return root


_XML_CHAR_RE = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_text(value: object, what: str) -> str:
    """`value` as a string that XML 1.0 can carry, or BuilderError."""
    if not isinstance(value, str):
        raise BuilderError(f"{what} must be a string, not {type(value).__name__}")
    bad = _XML_CHAR_RE.search(value)
    if bad is not None:
        raise BuilderError(f"{what} holds {bad.group()!r}, which XML cannot carry")
    return value


def children(element: Element, namespace: str, name: str) -> Iterator[Element]:
    """The direct children of `element` called `name` in `namespace`."""
    tag = f"{{{namespace}}}{name}"
    return (item for item in element if item.tag == tag)


def child(element: Element, namespace: str, name: str) -> Element | None:
    return next(children(element, namespace, name), None)


def child_text(element: Element, namespace: str, name: str) -> str | None:
    """The text of the first `name` child (``""`` when empty), or None without one."""
    found = child(element, namespace, name)
    if found is None:
        return None
    return found.text or ""


def sub(
    parent: Element,
    namespace: str,
    name: str,
    text: str | None = None,
    attributes: dict[str, str] | None = None,
) -> Element:
    element = ET.SubElement(parent, f"{{{namespace}}}{name}", attributes or {})
    if text is not None:
        element.text = text
    return element


_XML_NS = "http://www.w3.org/XML/1998/namespace"
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#9;",
    }
)


def serialize(root: Element, namespace: str) -> bytes:
    """UTF-8 bytes of `root` with an XML declaration and `namespace` as the default one.

    Every element must be in `namespace`; attributes are unqualified or xml:*.
    (ElementTree's own writer refuses unqualified attributes with a default namespace.)
    """
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    prefix = "{" + namespace + "}"

    def write(element: Element, top: bool) -> None:
        tag = element.tag
        if not isinstance(tag, str) or not tag.startswith(prefix):
            raise BuilderError(f"element {tag!r} is not in {namespace}")
        name = tag[len(prefix) :]
        out.append("<" + name)
        if top:
            out.append(f' xmlns="{namespace.translate(_ATTR_ESCAPES)}"')
        for key, value in element.attrib.items():
            if key.startswith("{" + _XML_NS + "}"):
                key = "xml:" + key[len(_XML_NS) + 2 :]
            elif key.startswith("{"):
                raise BuilderError(f"attribute {key!r} is in a foreign namespace")
            out.append(f' {key}="{check_text(value, key).translate(_ATTR_ESCAPES)}"')
        if element.text is None and len(element) == 0:
            out.append("/>")
            return
        out.append(">")
        if element.text:
            out.append(check_text(element.text, name).translate(_TEXT_ESCAPES))
        for item in element:
            write(item, False)
        out.append(f"</{name}>")

    write(root, True)
    return "".join(out).encode("utf-8")
