"""Micro-benchmark: parse (and serialize) a typical INVITE N times; prints messages/s.

    python bench/sip_parser.py [N]

"dialogs" parses, per call, INVITE, 180, 200, ACK, BYE and 200 sharing From,
To, Call-ID (and Via within a transaction), as a user agent receives them.
"varied" parses INVITEs that differ in what differs between
calls (Via branch, From tag, Call-ID, CSeq number), as in real traffic: the
parser shares the objects of values that recur (Contact, Allow...) but not of
those.

The baseline, measured in the same run, is the standard library's generic
RFC 5322 header parser (email.parser.BytesHeaderParser) on the same bytes: it
only splits header lines, where ours also types every known header.
"""

from __future__ import annotations

import sys
import time
from email.parser import BytesHeaderParser

from sipsimple_services.signalling.sip.message.parser import StreamParser, parse_message

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REFER, NOTIFY, SUBSCRIBE, INFO\r\n"
    b"Supported: replaces, timer, 100rel\r\n"
    b"User-Agent: sipsimple 0.1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 151\r\n"
    b"\r\n"
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _in_call(
    index: int, template: bytes, start: bytes, branch: bytes, cseq: bytes, tag: bool
) -> bytes:
    text = template.split(b"\r\n", 1)[1]
    text = text.replace(b"z9hG4bK74bf9", b"z9hG4bK%05d" % index + branch)
    text = text.replace(b"9fxced76sl", b"%010d" % index)
    text = text.replace(b"3848276298220188511", b"%019d" % index)
    text = text.replace(b"CSeq: 1 INVITE", b"CSeq: " + cseq)
    if tag:
        text = text.replace(b"biloxi.example.com>", b"biloxi.example.com>;tag=%d" % index)
    return start + b"\r\n" + text


def dialog_messages(calls: int) -> list[bytes]:
    """INVITE, 180, 200, ACK, BYE, 200 of `calls` calls (new tags, Call-ID, branches)."""
    bodyless = INVITE.split(b"Content-Type")[0] + b"Content-Length: 0\r\n\r\n"
    invite = INVITE.split(b"\r\n", 1)[0]
    messages = []
    for index in range(calls):
        messages += [
            _in_call(index, INVITE, invite, b"a", b"1 INVITE", False),
            _in_call(index, bodyless, b"SIP/2.0 180 Ringing", b"a", b"1 INVITE", True),
            _in_call(index, INVITE, b"SIP/2.0 200 OK", b"a", b"1 INVITE", True),
            _in_call(index, bodyless, invite.replace(b"INVITE", b"ACK"), b"b", b"1 ACK", True),
            _in_call(index, bodyless, invite.replace(b"INVITE", b"BYE"), b"c", b"2 BYE", True),
            _in_call(index, bodyless, b"SIP/2.0 200 OK", b"c", b"2 BYE", True),
        ]
    return messages


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    assert len(INVITE.split(b"\r\n\r\n", 1)[1]) == 151
    for _ in range(200):  # warm up
        parse_message(INVITE)
    start = time.perf_counter()
    for _ in range(count):
        parse_message(INVITE)
    parsed = time.perf_counter() - start
    varied_messages = [
        INVITE.replace(b"z9hG4bK74bf9", b"z9hG4bK%05d" % index)
        .replace(b"9fxced76sl", b"%010d" % index)
        .replace(b"3848276298220188511", b"%019d" % index)
        .replace(b"CSeq: 1 ", b"CSeq: %d " % index)
        for index in range(min(count, 10000))
    ]
    start = time.perf_counter()
    for index in range(count):
        parse_message(varied_messages[index % len(varied_messages)])
    varied = time.perf_counter() - start
    dialogs = dialog_messages(max(1, min(count, 12000) // 6))
    start = time.perf_counter()
    for index in range(count):
        parse_message(dialogs[index % len(dialogs)])
    in_dialogs = time.perf_counter() - start
    message = parse_message(INVITE)
    start = time.perf_counter()
    for _ in range(count):
        bytes(message)
    serialized = time.perf_counter() - start
    parser = StreamParser()
    stream = INVITE * 100
    start = time.perf_counter()
    for _ in range(count // 100):
        parser.feed(stream)
    streamed = time.perf_counter() - start
    baseline_parser = BytesHeaderParser()
    headers = INVITE.split(b"\r\n", 1)[1]  # without the request line, which email can't read
    start = time.perf_counter()
    for _ in range(count):
        baseline_parser.parsebytes(headers)
    baseline = time.perf_counter() - start
    rate = count / parsed
    print(f"parse_message:   {rate:10.0f} messages/s")
    print(f"  varied:        {count / varied:10.0f} messages/s (new branch, tag, Call-ID, CSeq)")
    print(f"  dialogs:       {count / in_dialogs:10.0f} messages/s (INVITE..BYE of each call)")
    print(f"serialize:       {count / serialized:10.0f} messages/s")
    print(f"StreamParser:    {(count // 100) * 100 / streamed:10.0f} messages/s")
    print(f"email.parser:    {count / baseline:10.0f} messages/s (baseline, untyped headers)")
    print(f"ratio parse_message / baseline: {rate / (count / baseline):.2f}x")


if __name__ == "__main__":
    main()
