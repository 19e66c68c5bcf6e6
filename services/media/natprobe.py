"""The NAT probe's I/O: one UDP socket driving `ice.natprobe.NatProbe` (gevent).

The media service owns the RTP sockets, so the probe runs here: from the
address RTP would use (the one the kernel picks towards the server, unless
the caller names one), on a port of its own (0: the probe is about the NAT,
which maps every local port alike unless it is port-dependent, and then no
port predicts another). The core decides what to send and when; this module
only sends, waits for the next datagram or deadline, and feeds it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time

from gevent import socket as gsocket

from sipsimple_services.media.ice.natprobe import NatBehaviour, NatProbe

__all__ = ["ProbeError", "local_address_towards", "run_probe"]

Address = tuple[str, int]
MAX_DATAGRAM = 2048


class ProbeError(Exception):
    pass


def local_address_towards(server: Address) -> str:
    """The local IP the kernel would send from to `server` (a connected UDP socket, no packet)."""
    family = socket.AF_INET6 if ipaddress.ip_address(server[0]).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(server)
        except OSError as exc:
            raise ProbeError(f"no route to {server[0]}: {exc.strerror or exc}") from None
        return str(probe.getsockname()[0])


def run_probe(server: Address, *, second: Address | None = None, local_ip: str | None = None,
              software: str | None = None) -> NatBehaviour:
    """Ask `server` (and `second`) from one new socket; the classification when done."""
    local_ip = local_ip or local_address_towards(server)
    family = socket.AF_INET6 if ipaddress.ip_address(local_ip).version == 6 else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_DGRAM)
    try:
        try:
            sock.bind((local_ip, 0))
        except OSError as exc:
            raise ProbeError(f"cannot bind {local_ip}: {exc.strerror or exc}") from None
        local = sock.getsockname()[:2]
        probe = NatProbe(server, (local[0], local[1]), second=second, software=software)
        pending = probe.start(time.monotonic())
        while True:
            for transmit in pending:
                with contextlib.suppress(OSError):  # unreachable now: the timeout tells
                    sock.sendto(transmit.data, transmit.destination)
            if probe.result is not None:
                return probe.result
            deadline = probe.next_deadline()
            assert deadline is not None  # a probe not done always waits for something
            sock.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                data, source = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                pending = probe.handle_timeout(time.monotonic())
                continue
            except OSError:
                # an ICMP error surfaced on the socket: as no answer, at the deadline
                pending = []
                continue
            pending = probe.handle_datagram(data, (source[0], source[1]), time.monotonic())
    finally:
        sock.close()
