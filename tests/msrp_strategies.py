"""Hypothesis strategies and RFC 4975 examples shared by the MSRP tests."""

from __future__ import annotations

from hypothesis import strategies as st

from sipsimple_services.msrp.protocol.headers import format_use_nickname
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse

ALICE = "msrp://alicepc.example.com:7777/iau39soe2843z;tcp"
BOB = "msrp://bob.example.com:8888/9di4eae923wzd;tcp"

# The SEND and 200 of RFC 4975's first example (its Byte-Range says 25 for a
# 23-byte body, as printed there), and chunks, REPORT and report headers in
# the form of section 7's examples; AUTH as in RFC 4976 section 7.1. CRLF ends.
RFC_SEND = (
    b"MSRP a786hjs2 SEND\r\n"
    b"To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
    b"From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
    b"Message-ID: 87652491\r\n"
    b"Byte-Range: 1-25/25\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Hey Bob, are you there?\r\n"
    b"-------a786hjs2$\r\n"
)
RFC_RESPONSE = (
    b"MSRP a786hjs2 200 OK\r\n"
    b"To-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n"
    b"From-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n"
    b"-------a786hjs2$\r\n"
)
RFC_CHUNKS = (
    b"MSRP dkei38sd SEND\r\n"
    b"To-Path: " + ALICE.encode() + b"\r\n"
    b"From-Path: " + BOB.encode() + b"\r\n"
    b"Message-ID: 4564dpWd\r\n"
    b"Byte-Range: 1-*/8\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"abcd\r\n"
    b"-------dkei38sd+\r\n"
    b"MSRP dkei38ia SEND\r\n"
    b"To-Path: " + ALICE.encode() + b"\r\n"
    b"From-Path: " + BOB.encode() + b"\r\n"
    b"Message-ID: 4564dpWd\r\n"
    b"Byte-Range: 5-8/8\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"EFGH\r\n"
    b"-------dkei38ia$\r\n"
)
RFC_REPORT = (
    b"MSRP dkei38sd REPORT\r\n"
    b"To-Path: " + ALICE.encode() + b"\r\n"
    b"From-Path: " + BOB.encode() + b"\r\n"
    b"Message-ID: 12339sdqwer\r\n"
    b"Byte-Range: 1-106/106\r\n"
    b"Status: 000 200 OK\r\n"
    b"-------dkei38sd$\r\n"
)
RFC_SEND_REPORTS = (
    b"MSRP d93kswow SEND\r\n"
    b"To-Path: " + BOB.encode() + b"\r\n"
    b"From-Path: " + ALICE.encode() + b"\r\n"
    b"Message-ID: 12339sdqwer\r\n"
    b"Byte-Range: 1-16/16\r\n"
    b"Success-Report: yes\r\n"
    b"Failure-Report: no\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>Hello Bob</p>\r\n"
    b"-------d93kswow$\r\n"
)
RFC_AUTH = (  # RFC 4976 section 7.1
    b"MSRP 49fh AUTH\r\n"
    b"To-Path: msrps://alice@intra.example.com;tcp\r\n"
    b"From-Path: msrps://alice.example.com:9892/98cjs;tcp\r\n"
    b"-------49fh$\r\n"
)
RFC_NICKNAME = (  # RFC 7701 section 7.x's form: a participant asks the focus
    b"MSRP dd3a8hjw NICKNAME\r\n"
    b"To-Path: " + BOB.encode() + b"\r\n"
    b"From-Path: " + ALICE.encode() + b"\r\n"
    b"Use-Nickname: \"Alice the great\"\r\n"
    b"-------dd3a8hjw$\r\n"
)
RFC_STREAM = (RFC_SEND + RFC_RESPONSE + RFC_CHUNKS + RFC_REPORT + RFC_SEND_REPORTS + RFC_AUTH
              + RFC_NICKNAME)

# What a Use-Nickname carries: any text but control characters (HTAB aside).
nicknames = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.just("\t"),
                    max_size=40)
idents = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}", fullmatch=True)
_values = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF,
                                exclude_characters="\x7f"), min_size=1, max_size=30)
_other_headers = st.lists(
    st.tuples(st.sampled_from(["X-Thing", "Expires", "Byte-Range", "Success-Report",
                               "Failure-Report", "Content-ID", "Content-Description"]),
              _values), max_size=3,
).map(lambda items: tuple(
    (name, {"Expires": "30", "Byte-Range": "1-*/*", "Success-Report": "yes",
            "Failure-Report": "partial"}.get(name, value)) for name, value in items))


@st.composite
def requests(draw: st.DrawFn) -> MSRPRequest:
    tid = draw(idents)
    body = draw(st.none() | st.binary(max_size=300))
    headers: tuple[tuple[str, str], ...] = (
        ("To-Path", BOB), ("From-Path", ALICE), ("Message-ID", draw(idents)),
        *draw(_other_headers),
    )
    # In the serializer's order: MIME headers, then Content-Type, last.
    plain = tuple(item for item in headers if not item[0].startswith("Content-"))
    mime = tuple(item for item in headers if item[0].startswith("Content-"))
    headers = plain
    if body is not None:
        headers += mime
        headers += (("Content-Type", draw(st.sampled_from(["text/plain", "message/cpim"]))),)
        if b"-------" + tid.encode() in body:
            body = body.replace(b"-------", b"")
    method = draw(st.sampled_from(["SEND", "REPORT", "AUTH", "NICKNAME", "FOO"]))
    if method == "NICKNAME":  # before the MIME headers, as the serializer writes it
        nickname = ("Use-Nickname", format_use_nickname(draw(nicknames)))
        at = next((i for i, item in enumerate(headers) if item[0].startswith("Content-")),
                  len(headers))
        headers = (*headers[:at], nickname, *headers[at:])
    return MSRPRequest(tid, method, headers, body, draw(st.sampled_from("$+#")))


@st.composite
def responses(draw: st.DrawFn) -> MSRPResponse:
    comment = draw(st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                       min_size=1, max_size=20))
    if comment is not None and comment != comment.strip(" "):
        comment = comment.strip(" ") or None
    return MSRPResponse(draw(idents), draw(st.sampled_from([200, 400, 408, 413, 481])),
                        comment, (("To-Path", ALICE), ("From-Path", BOB)))


messages = requests() | responses()
