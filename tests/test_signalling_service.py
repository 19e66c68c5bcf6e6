"""The signalling service process (`python -m sipsimple_services.signalling`) with real peers.

SIPp calls us (OPTIONS, MESSAGE, INVITE, an INVITE flood) and answers us
(OPTIONS, a MESSAGE challenged with 401); raw sockets send garbage. All on
loopback.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.loopback import peer_closed
from harness.notifications import Recorder
from harness.signalling import signalling_transports
from harness.sipp import SIPp, free_ports, needs_sipp, scenario

from sipsimple.bus.client import BusClient, ServiceError, get_bus

pytestmark = [pytest.mark.integration, needs_sipp]

OPTIONS_RAW = (
    "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n"
    "Max-Forwards: 70\r\nTo: <sip:probe@127.0.0.1>\r\nFrom: <sip:raw@127.0.0.1>;tag=r1\r\n"
    "Call-ID: raw-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


@pytest.fixture
def recorder() -> Iterator[Callable[[str], Recorder]]:
    made: list[Recorder] = []

    def make(name: str) -> Recorder:
        made.append(Recorder(name))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service)


def us(ports: dict[str, Any], transport: str = "udp") -> str:
    return f"127.0.0.1:{ports[transport]}"


def route(port: int, transport: str = "udp") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "transport": transport}


def check(result: Any, sipp: SIPp) -> None:
    assert result.returncode == 0, (
        f"sipp exit {result.returncode}\n{result.stderr.decode(errors='replace')[-2000:]}"
        f"\n{sipp.errors()}"
    )


def play(name: str, sipp: SIPp, **replace: str) -> Path:
    """The scenario `name` in this test's SIPp work directory."""
    return scenario(name, sipp.workdir, **replace)


def raw_options(port: int) -> bytes:
    """One OPTIONS over a plain UDP socket; the answer's bytes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        local = sock.getsockname()[1]
        sock.sendto(
            OPTIONS_RAW.format(port=local, branch=os.urandom(6).hex()).encode(),
            ("127.0.0.1", port),
        )
        data, _ = sock.recvfrom(65535)
    return data


# --- configuration --------------------------------------------------------------


def test_get_transports_and_configure(ports: dict[str, Any]) -> None:
    bus = get_bus()
    assert ports["host"] == "127.0.0.1"
    assert ports["transports"] == ["udp", "tcp"]
    assert isinstance(ports["udp"], int) and ports["udp"] > 0
    assert isinstance(ports["tcp"], int) and ports["tcp"] > 0
    assert ports["tls"] is None
    changed = bus.call("signalling", "configure", transports=["udp"], udp_port=0)
    assert changed["transports"] == ["udp"] and changed["tcp"] is None
    assert raw_options(changed["udp"]).startswith(b"SIP/2.0 200 OK")
    for params, message in [
        ({"transports": ["sctp"]}, "unknown transport"),
        ({"transports": ["tls"]}, "tls_certificate"),
        ({"udp_port": 70000}, "udp_port"),
        ({"host": "example.com"}, "IP address"),
    ]:
        with pytest.raises(ServiceError) as info:
            bus.call("signalling", "configure", **params)
        assert info.value.code == "invalid-params" and message in str(info.value)
    # A port that is taken: the previous transports stay.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(ServiceError) as info:
            bus.call("signalling", "configure", udp_port=taken.getsockname()[1])
    assert info.value.code == "failed"
    assert bus.call("signalling", "get_transports")["udp"] == changed["udp"]
    assert raw_options(changed["udp"]).startswith(b"SIP/2.0 200 OK")


def test_ports_from_the_environment(spawn_service: Callable[..., Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spawn_service(
        "sipsimple_services.signalling",
        "signalling",
        SIPSIMPLE_SIP_UDP_PORT=str(port),
        SIPSIMPLE_SIP_TRANSPORTS="udp",
    )
    assert get_bus().call("signalling", "get_transports")["udp"] == port


# --- OPTIONS -------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_from_sipp(ports: dict[str, Any], sipp: SIPp, transport: str) -> None:
    ours = "udp" if transport == "u1" else "tcp"
    check(
        sipp.run(play("uac_options.xml", sipp), remote=us(ports, ours), transport=transport), sipp
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_to_sipp(ports: dict[str, Any], sipp: SIPp, transport: str) -> None:
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    uas = sipp.start(
        play("uas_options.xml", sipp), port=port, transport="u1" if transport == "udp" else "t1"
    )
    reply = get_bus().call(
        "signalling",
        "send_options",
        uri=f"sip:uas@127.0.0.1:{port}",
        route=route(port, transport),
        timeout=20,
    )
    assert (reply["code"], reply["reason"], reply["local"]) == (200, "OK", False)
    headers = dict((name, value) for name, value in reply["headers"])
    assert headers["Server"] == "SIPp-UAS"
    assert headers["Allow"] == "OPTIONS, MESSAGE"
    assert uas.wait(20) == 0, sipp.errors()


def test_options_to_nobody(ports: dict[str, Any]) -> None:
    reply = get_bus().call(
        "signalling",
        "send_options",
        uri="sip:x@127.0.0.1",
        route=route(free_ports(kinds=(socket.SOCK_STREAM,)), "tcp"),
    )
    assert reply["code"] == 503 and reply["local"] is True
    assert "refused" in reply["error"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
def test_options_to_a_dead_udp_port(ports: dict[str, Any]) -> None:
    # the ICMP port-unreachable is the answer (RFC 3261 18.4), not Timer F's 408
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    reply = get_bus().call(
        "signalling", "send_options", uri="sip:x@127.0.0.1", route=route(port, "udp"), timeout=60
    )
    assert (reply["code"], reply["local"], reply["error"]) == (503, True, "port unreachable")


def test_options_answered_by_a_client(
    ports: dict[str, Any], recorder: Callable[[str], Recorder]
) -> None:
    bus = get_bus()
    requests = recorder("signalling.request_received")
    bus.call("signalling", "claim_account", aor="sip:carol@127.0.0.1", options=True)
    future = bus.call_async(
        "signalling",
        "send_options",
        {
            "uri": "sip:carol@127.0.0.1",
            "route": route(ports["udp"]),
        },
        timeout=20,
    )
    data = requests.wait(lambda n: n.data.method == "OPTIONS").data
    assert data.answered is None and data.account == "sip:carol@127.0.0.1"
    bus.call(
        "signalling",
        "respond",
        server_key=data.server_key,
        code=200,
        headers=[["Allow", "MESSAGE"], ["X-Answered-By", "test"]],
    )
    reply = future.result(20)
    headers = dict((name, value) for name, value in reply["headers"])
    assert reply["code"] == 200 and headers["X-Answered-By"] == "test"
    with pytest.raises(ServiceError) as info:  # answered already
        bus.call("signalling", "respond", server_key=data.server_key, code=200)
    assert info.value.code == "not-found"


# --- MESSAGE and INVITE from SIPp ---------------------------------------------------


def test_message_codes(
    ports: dict[str, Any], sipp: SIPp, recorder: Callable[[str], Recorder]
) -> None:
    requests = recorder("signalling.request_received")
    # no client holds alice: 480, whether other accounts are held or not
    check(
        sipp.run(play("uac_message.xml", sipp, CODE="480"), remote=us(ports), service="alice"), sipp
    )
    bus = get_bus()
    bus.call("signalling", "claim_account", aor="sip:bob@127.0.0.1")
    check(
        sipp.run(play("uac_message.xml", sipp, CODE="480"), remote=us(ports), service="alice"), sipp
    )
    # alice claimed: the message is delivered, and the 200 is the client's to send
    assert bus.call("signalling", "claim_account", aor="sip:alice@127.0.0.1") == {
        "aor": "sip:alice@127.0.0.1",
        "options": False,
    }
    sender = sipp.start(play("uac_message.xml", sipp, CODE="200"), remote=us(ports),
                        service="alice")
    data = requests.wait(lambda n: n.data.method == "MESSAGE").data
    assert data.body.startswith(b"Hello from SIPp") and isinstance(data.body, bytes)
    assert data.answered is None and data.account == "sip:alice@127.0.0.1"
    assert data.client == bus.client_id
    assert data.request_uri.startswith("sip:alice@127.0.0.1")
    assert ["Content-Type", "text/plain"] in data.headers
    assert data.source["transport"] == "udp" and data.source["host"] == "127.0.0.1"
    bus.call("signalling", "respond", server_key=data.server_key, code=200)
    assert sender.wait(30) == 0, sipp.errors()
    # released: 480 again (bob is still claimed)
    bus.call("signalling", "release_account", aor="sip:alice@127.0.0.1")
    check(
        sipp.run(play("uac_message.xml", sipp, CODE="480"), remote=us(ports), service="alice"), sipp
    )


def test_a_message_nobody_answers_gets_480(
    ports: dict[str, Any], sipp: SIPp, recorder: Callable[[str], Recorder]
) -> None:
    """The client holding the account goes away with the message unanswered: 480, not 200."""
    requests = recorder("signalling.request_received")
    other = BusClient(services=["signalling"], post_notifications=False)
    other.start()
    try:
        other.call("signalling", "claim_account", aor="sip:alice@127.0.0.1")
        sender = sipp.start(play("uac_message.xml", sipp, CODE="480"), remote=us(ports),
                            service="alice")
        data = requests.wait(lambda n: n.data.method == "MESSAGE").data
        assert data.answered is None and data.client == other.client_id
    finally:
        other.stop()  # says goodbye with the message unanswered
    assert sender.wait(30) == 0, sipp.errors()
    with pytest.raises(ServiceError) as info:  # answered already, and not ours anyway
        get_bus().call("signalling", "respond", server_key=data.server_key, code=200)
    assert info.value.code == "not-found"


def test_a_message_for_a_released_account_gets_480(
    ports: dict[str, Any], sipp: SIPp, recorder: Callable[[str], Recorder]
) -> None:
    requests = recorder("signalling.request_received")
    bus = get_bus()
    bus.call("signalling", "claim_account", aor="sip:alice@127.0.0.1")
    sender = sipp.start(play("uac_message.xml", sipp, CODE="480"), remote=us(ports),
                        service="alice")
    data = requests.wait(lambda n: n.data.method == "MESSAGE").data
    bus.call("signalling", "release_account", aor="sip:alice@127.0.0.1")  # unanswered
    with pytest.raises(ServiceError) as info:  # answered 480 already, by the release
        bus.call("signalling", "respond", server_key=data.server_key, code=480)
    assert info.value.code == "not-found"
    assert sender.wait(30) == 0, sipp.errors()


def test_claims_end_with_their_client(ports: dict[str, Any], sipp: SIPp) -> None:
    other = BusClient(services=["signalling"], post_notifications=False)
    other.start()
    other.call("signalling", "claim_account", aor="sip:alice@127.0.0.1")
    assert "sip:alice@127.0.0.1" in {
        claim["aor"] for claim in get_bus().call("signalling", "status")["accounts"]}
    other.stop()  # says goodbye: its claim goes
    check(
        sipp.run(play("uac_message.xml", sipp, CODE="480"), remote=us(ports), service="alice"), sipp
    )


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_invite_without_owner_gets_480(ports: dict[str, Any], sipp: SIPp, transport: str) -> None:
    ours = "udp" if transport == "u1" else "tcp"
    check(
        sipp.run(
            play("uac_invite_480.xml", sipp),
            remote=us(ports, ours),
            transport=transport,
            service="nobody",
        ),
        sipp,
    )


def test_a_refused_invite_is_published(
    ports: dict[str, Any], sipp: SIPp, recorder: Callable[[str], Recorder],
) -> None:
    """Nobody owns the call, so nobody would know of it: the service says it refused it."""
    refused = recorder("signalling.incoming_refused")
    check(sipp.run(play("uac_invite_480.xml", sipp), remote=us(ports), service="nobody"), sipp)
    data = refused.wait("signalling.incoming_refused").data
    assert (data.code, data.reason) == (480, "Temporarily Unavailable")
    assert data.to.startswith("<sip:nobody@127.0.0.1") and "sipp" in getattr(data, "from")
    assert data.request_uri.startswith("sip:nobody@127.0.0.1")
    assert data.source["transport"] == "udp" and data.call_id


def test_an_any_user_claim_gets_calls_to_users_nobody_claimed(
    ports: dict[str, Any], sipp: SIPp, recorder: Callable[[str], Recorder],
) -> None:
    bus = get_bus()
    incoming = recorder("signalling.session_incoming")
    assert bus.call("signalling", "claim_account", aor="sip:bob@127.0.0.1", any_user=True) == {
        "aor": "sip:bob@127.0.0.1", "options": False, "any_user": True}
    caller = sipp.start(play("uac_refused.xml", sipp, USER="someone",
                            HOST="[remote_ip]:[remote_port]", FINAL="486",
                            MEDIA="audio [media_port] RTP/AVP 0", RING_OPTIONAL="true",
                            RINGS="False"), remote=us(ports))
    data = incoming.wait("signalling.session_incoming").data
    assert (data.account, data.client) == ("sip:bob@127.0.0.1", bus.client_id)
    assert data.to.startswith("<sip:someone@127.0.0.1")
    bus.call("signalling", "reject", session_id=data.session_id, code=486)
    assert caller.wait(30) == 0, sipp.errors()
    # released, the next such call is nobody's again
    bus.call("signalling", "release_account", aor="sip:bob@127.0.0.1", any_user=True)
    check(sipp.run(play("uac_invite_480.xml", sipp), remote=us(ports), service="someone"),
          sipp)


def test_invite_flood(ports: dict[str, Any], sipp: SIPp) -> None:
    result = sipp.run(
        play("uac_invite_480.xml", sipp),
        remote=us(ports),
        service="nobody",
        calls=500,
        rate=250,
        limit=500,
        timeout=60,
    )
    check(result, sipp)
    check(sipp.run(play("uac_options.xml", sipp), remote=us(ports)), sipp)


# --- bad input ------------------------------------------------------------------------


def test_garbage_does_not_stop_the_service(ports: dict[str, Any], sipp: SIPp) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in [
            random.Random(299).randbytes(1200),
            b"\x00" * 100,
            b"INVITE\r\n\r\n",
            b"SIP/2.0 200\r\n\r\n",
            OPTIONS_RAW.format(port=1, branch="x").encode()[:-30],  # truncated
            b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-Long: " + b"a" * 60000 + b"\r\n\r\n",
        ]:
            sock.sendto(payload, ("127.0.0.1", ports["udp"]))
    # A TCP stream that never ends its message, kept open, and one far too long.
    endless = socket.create_connection(("127.0.0.1", ports["tcp"]))
    endless.sendall(b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1\r\n")
    flood = socket.create_connection(("127.0.0.1", ports["tcp"]))
    try:
        with pytest.raises(OSError):  # the service closes the connection
            for _ in range(200):
                flood.sendall(b"X-Junk: " + b"j" * 4000 + b"\r\n")
                time.sleep(0.001)
    finally:
        flood.close()
    try:
        assert raw_options(ports["udp"]).startswith(b"SIP/2.0 200 OK")
        check(sipp.run(play("uac_options.xml", sipp), remote=us(ports)), sipp)
        check(
            sipp.run(play("uac_options.xml", sipp), remote=us(ports, "tcp"), transport="t1"), sipp
        )
    finally:
        endless.close()


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_bad_cseq_is_answered_400(ports: dict[str, Any], sipp: SIPp, transport: str) -> None:
    ours = "udp" if transport == "u1" else "tcp"
    check(
        sipp.run(play("uac_bad_cseq.xml", sipp), remote=us(ports, ours), transport=transport),
        sipp,
    )
    # and the service goes on
    assert raw_options(ports["udp"]).startswith(b"SIP/2.0 200 OK")


def test_invalid_params(ports: dict[str, Any]) -> None:
    bus = get_bus()
    good = route(ports["udp"])
    for method, params, message in [
        ("send_options", {"uri": "http://x", "route": good}, "uri"),
        ("send_options", {"uri": "sip:x@y", "route": {"host": "127.0.0.1"}}, "port"),
        ("send_options", {"uri": "sip:x@y", "route": {**good, "transport": "sctp"}}, "transport"),
        ("send_options", {"uri": "sip:x@y", "route": {**good, "bogus": 1}}, "unknown key"),
        ("send_options", {"uri": "sip:x@y", "route": {**good, "host": "a b"}}, "host"),
        ("send_options", {"uri": "sip:x@y", "route": good, "headers": [["Via", "x"]]}, "Via"),
        ("send_options", {"uri": "sip:x@y", "route": good, "headers": [["A"]]}, "pair"),
        ("send_options", {"uri": "sip:x@y", "route": good, "response_timeout": 0}, "timeout"),
        (
            "send_message",
            {
                "from_uri": "sip:a@b",
                "to_uri": "nonsense",
                "route": good,
                "content_type": "text/plain",
                "body": b"x",
            },
            "to_uri",
        ),
        (
            "send_message",
            {
                "from_uri": "sip:a@b",
                "to_uri": "sip:c@d",
                "route": good,
                "content_type": "text",
                "body": b"x",
            },
            "content_type",
        ),
        (
            "send_message",
            {
                "from_uri": "sip:a@b",
                "to_uri": "sip:c@d",
                "route": good,
                "content_type": "text/plain",
                "body": b"x",
                "credentials": {"username": ""},
            },
            "username",
        ),
        ("claim_account", {"aor": "alice"}, "aor"),
        ("respond", {"server_key": "s1", "code": 99}, "code"),
    ]:
        with pytest.raises(ServiceError) as info:
            bus.call("signalling", method, **params)
        assert info.value.code == "invalid-params", (method, params)
        assert message in str(info.value), (message, str(info.value))
    with pytest.raises(ServiceError) as info:
        bus.call("signalling", "respond", server_key="s999", code=200)
    assert info.value.code == "not-found"
    with pytest.raises(ServiceError) as info:
        bus.call("signalling", "release_account", aor="sip:never@127.0.0.1")
    assert info.value.code == "not-found"


# --- MESSAGE out, with digest authentication -------------------------------------------


@pytest.mark.parametrize(("password", "code"), [("secret", 200), ("wrong", 403)])
def test_send_message_with_digest(
    ports: dict[str, Any], sipp: SIPp, password: str, code: int
) -> None:
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    uas = sipp.start(play("uas_message_auth.xml", sipp), port=port)
    reply = get_bus().call(
        "signalling",
        "send_message",
        timeout=20,
        from_uri="sip:alice@sipp.test",
        to_uri=f"sip:bob@127.0.0.1:{port}",
        route=route(port),
        content_type="text/plain",
        body=b"hello",
        credentials={"username": "alice", "password": password},
    )
    assert reply["code"] == code, reply
    assert uas.wait(20) == 0, sipp.errors()


# --- events: tracing and completed transactions ----------------------------------------


def test_trace_events_and_file(
    ports: dict[str, Any], recorder: Callable[[str], Recorder], runtime: Path
) -> None:
    bus = get_bus()
    traced = recorder("signalling.message_traced")
    completed = recorder("signalling.transaction_completed")
    result = bus.call("signalling", "set_trace", enabled=True)
    assert result["enabled"] is True
    reply = bus.call(
        "signalling", "send_options", uri="sip:self@127.0.0.1", route=route(ports["udp"])
    )
    assert reply["code"] == 200
    out_request = traced.wait(
        lambda n: n.data.direction == "out" and n.data.message.startswith("OPTIONS")
    ).data
    assert out_request.transport == "UDP"
    assert out_request.destination == f"127.0.0.1:{ports['udp']}"
    traced.wait(lambda n: n.data.direction == "in" and n.data.message.startswith("OPTIONS"))
    traced.wait(lambda n: n.data.direction == "in" and n.data.message.startswith("SIP/2.0 200"))
    for originator in ("local", "remote"):
        data = completed.wait(lambda n, o=originator: n.data.originator == o).data
        assert (data.method, data.code, data.reason, data.call_id) == (
            "OPTIONS",
            200,
            "OK",
            reply["call_id"],
        )
    trace_file = Path(result["file"])
    assert trace_file == Path(os.environ["SIPSIMPLE_STATE_DIR"]) / "logs" / "sip_trace.log"
    deadline = time.monotonic() + 5
    while "SIP/2.0 200 OK" not in trace_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = trace_file.read_text()
    assert f" out UDP 127.0.0.1:{ports['udp']} -> 127.0.0.1:{ports['udp']}" in text
    assert "OPTIONS sip:self@127.0.0.1 SIP/2.0" in text and "SIP/2.0 200 OK" in text
    assert bus.call("signalling", "set_trace", enabled=False)["enabled"] is False
    seen = len(traced.seen)
    bus.call("signalling", "send_options", uri="sip:self@127.0.0.1", route=route(ports["udp"]))
    time.sleep(0.3)
    assert len(traced.seen) == seen


# --- stream bounds: a connection flood from one address -------------------------------------


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def flood_request(port: int, body_length: int) -> bytes:
    branch = os.urandom(6).hex()
    return (
        "MESSAGE sip:nobody@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n"
        "Max-Forwards: 70\r\nTo: <sip:nobody@127.0.0.1>\r\nFrom: <sip:raw@127.0.0.1>;tag=f1\r\n"
        f"Call-ID: flood-{branch}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {body_length}\r\n\r\n"
    ).encode()



def test_connection_flood_from_one_address_is_capped(
    spawn_service: Callable[..., Any],
) -> None:
    """Many connections from 127.0.0.1, each holding most of a 1 MB body: the
    per-address cap (32 by default) refuses the rest, 127.0.0.2 is still answered,
    and the service's peak memory stays far below what every connection would hold."""
    # a deadline far away: only the per-address cap is at work here
    process = spawn_service("sipsimple_services.signalling", "signalling",
                            SIPSIMPLE_SIP_MESSAGE_TIMEOUT="600")
    port = int(get_bus().call("signalling", "get_transports")["tcp"])
    before = memory_kib(process.pid, "VmRSS")
    count, cap, body, sent = 150, 32, 1_000_000, 900_000
    flood: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            flood.append(sock)
            with contextlib.suppress(OSError):  # refused: closed under our feet
                sock.sendall(flood_request(port, body) + b"x" * sent)
        deadline = time.monotonic() + 60
        while sum(map(peer_closed, flood)) < count - cap:
            assert time.monotonic() < deadline, f"{sum(map(peer_closed, flood))} refused"
            time.sleep(0.05)
        held = [sock for sock in flood if not peer_closed(sock)]
        assert len(held) == cap
        # another address is served meanwhile
        with socket.create_connection(("127.0.0.1", port), timeout=10,
                                      source_address=("127.0.0.2", 0)) as other:
            other.sendall(OPTIONS_RAW.format(port=port, branch="other").replace(
                "SIP/2.0/UDP", "SIP/2.0/TCP").encode())
            assert other.recv(65536).startswith(b"SIP/2.0 200 ")
        # the held messages end: each gets its answer, so every byte was read
        for sock in held:
            sock.sendall(b"x" * (body - sent))
            assert sock.recv(65536).startswith(b"SIP/2.0 "), "no answer to a held message"
    finally:
        for sock in flood:
            sock.close()
    growth_mib = (memory_kib(process.pid, "VmHWM") - before) / 1024
    # 32 held bodies are ~30 MiB; all 150 would be ~140 MiB (255 MB RSS before the cap)
    assert growth_mib < 80, f"peak memory grew by {growth_mib:.0f} MiB"


@pytest.mark.parametrize(
    ("method", "params", "blocks"),
    [
        ("invite", {"route": {"host": "127.0.0.1", "port": 5060, "transport": "udp"}}, False),
        ("invite", {"route": {"host": "[::1]", "port": 5060, "transport": "UDP"}}, False),
        ("invite", {"route": {"host": "127.0.0.1", "port": 5060}}, False),  # udp by default
        ("invite", {"route": {"host": "127.0.0.1", "port": 5060, "transport": "tcp"}}, True),
        ("invite", {"route": {"host": "127.0.0.1", "port": 5061, "transport": "tls"}}, True),
        ("invite", {"route": {"host": "sip.example.test", "port": 5060}}, True),
        ("register", {}, True),
        ("accept", {}, False),
    ],
)
def test_only_an_invite_that_may_wait_gets_a_greenlet(
    method: str, params: dict[str, Any], blocks: bool
) -> None:
    from sipsimple_services.signalling.bus.service import SignallingService

    service = object.__new__(SignallingService)  # the decision reads no state
    assert service.blocks(method, params) is blocks
