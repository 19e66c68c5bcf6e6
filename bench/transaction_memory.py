"""Memory of a live server transaction; prints bytes per transaction.

    python bench/transaction_memory.py [CALLS]

Per call, an INVITE (with SDP) and a BYE are parsed by `parse_message` and
received by a `TransactionLayer`, which creates their server transactions;
the INVITE is answered 200 (To tag, Contact, SDP) and the BYE 200, as the
auto-answering service does. The transactions are then in the state they
stay in for 64*T1 on UDP (INVITE Accepted, non-INVITE Completed), holding the
request and the final response: what `max_server_transactions` bounds.

The baseline, measured in the same run with tracemalloc, is the same parsed
requests and built responses held in a list, without the layer: the ratio is
what the transactions and the layer's table add to the messages they hold.
The engine adds a pending timer per transaction (Timer L or J, a gevent
greenlet from `TimerWheel`); its memory, mostly libev's and not traced, is
measured from the resident size (Linux /proc/self/statm).
Every call has its own branch, tags and Call-ID (the parser shares values
that recur, like Contact and Allow, but not those).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import gevent

from sipsimple.core.headers import GenericHeader
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions.effects import RequestReceived
from sipsimple_services.signalling.sip.transactions.layer import LayerLimits, TransactionLayer

SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 192.0.2.10\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
INVITE = (
    b"INVITE sip:service@192.0.2.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-%(call)d-1-0\r\n"
    b"From: sipp <sip:sipp@192.0.2.10:5061>;tag=%(call)dSIPpTag001\r\n"
    b"To: service <sip:service@192.0.2.1:5060>\r\n"
    b"Call-ID: %(call)d-4242@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@192.0.2.10:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: %(length)d\r\n"
    b"\r\n"
)
BYE = (
    b"BYE sip:service@192.0.2.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-%(call)d-1-5\r\n"
    b"From: sipp <sip:sipp@192.0.2.10:5061>;tag=%(call)dSIPpTag001\r\n"
    b"To: service <sip:service@192.0.2.1:5060>;tag=%(call)dlocal\r\n"
    b"Call-ID: %(call)d-4242@192.0.2.10\r\n"
    b"CSeq: 2 BYE\r\n"
    b"Contact: sip:sipp@192.0.2.10:5061\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)
SOURCE = Destination("192.0.2.10", 5061, "UDP")
CONTACT = GenericHeader("Contact", "<sip:service@192.0.2.1:5060>")
CONTENT_TYPE = GenericHeader("Content-Type", "application/sdp")


def requests(call: int) -> tuple[SIPRequest, SIPRequest]:
    invite = parse_message(INVITE % {b"call": call, b"length": len(SDP)} + SDP)
    bye = parse_message(BYE % {b"call": call})
    assert isinstance(invite, SIPRequest) and isinstance(bye, SIPRequest)
    return invite, bye


def answer(request: SIPRequest, call: int) -> SIPResponse:
    if request.method == "INVITE":
        return make_response(
            request, 200, to_tag=f"{call}local", headers=(CONTACT, CONTENT_TYPE), body=SDP
        )
    return make_response(request, 200)


def messages_only(first: int, calls: int) -> list[object]:
    kept: list[object] = []
    for call in range(first, first + calls):
        for request in requests(call):
            kept += [request, answer(request, call)]
    return kept


def through_layer(layer: TransactionLayer, first: int, calls: int) -> None:
    now = 0.0
    for call in range(first, first + calls):
        for request in requests(call):
            effects = layer.receive(request, SOURCE, now)
            (received,) = [e for e in effects if isinstance(e, RequestReceived)]
            layer.send_response(received.key, answer(request, call), now)


def measure(run: object, *args: object) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    result = run(*args)  # type: ignore[operator]
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    del result
    return used


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def timer_bytes(count: int) -> float:
    """Resident bytes per pending `TimerWheel`-style timer (tracemalloc off)."""
    gevent.spawn_later(100, lambda: None).kill()
    gc.collect()
    before = resident()
    timers = {
        (("3261", f"z9hG4bK-{i}-1-0", "192.0.2.10", 5061, "INVITE"), "L"):
        gevent.spawn_later(32, lambda: None)
        for i in range(count)
    }
    used = (resident() - before) / count
    gevent.killall(list(timers.values()), block=False)
    return used


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    layer = TransactionLayer(limits=LayerLimits(max_server_transactions=2 * calls))
    tracemalloc.start()
    messages_only(0, 200)  # warm up the parser's caches and the interned strings
    through_layer(TransactionLayer(), 200, 200)
    baseline = measure(messages_only, 10**6, calls)
    used = measure(through_layer, layer, 2 * 10**6, calls)
    tracemalloc.stop()
    live = len(layer.server_transactions)
    assert live == 2 * calls, live
    states = sorted({str(t.state) for t in layer.server_transactions.values()})
    per_transaction = used / live
    per_message_pair = baseline / live
    print(f"{live} live server transactions ({calls} calls), states {', '.join(states)}")
    print(f"  layer:     {per_transaction:8.0f} bytes per transaction")
    print(f"  baseline:  {per_message_pair:8.0f} bytes per request + response (messages alone)")
    print(f"  ratio:     {per_transaction / per_message_pair:8.2f}")
    timer = timer_bytes(live)
    total = per_transaction + timer
    print(f"  engine timer: {timer:5.0f} bytes (resident); with it {total:.0f} per transaction")
    for limit in (10_000, 50_000, 80_000, 100_000, 200_000):
        print(f"  {limit:7d} transactions: {limit * total / 10**6:6.0f} MB")


if __name__ == "__main__":
    main()
