"""Connections from a local address the host no longer has.

On Linux a TCP connection whose local address was removed from its
interface is not reset: what is sent on it is queued and never leaves (or
leaves with a source no answer can reach), so a request on it only fails at
Timer B/F (32 s), although a new connection from the address the host has now
would work. The manager asks `address_gone` about each distinct local IP of
its connections once per maintenance tick (one bind of a UDP socket each)
and closes the connections `stale` picks.

`address_gone` is cautious: only EADDRNOTAVAIL, the kernel's "no interface
has this address", counts; any other error (IPv6 off, a scope that no longer
parses) or a successful bind keeps the connection.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["address_gone", "gone_after", "stale"]

K = TypeVar("K")


def gone_after(error: OSError | None) -> bool:
    """Whether a bind's outcome (None: it succeeded) says the address is not the host's."""
    return error is not None and error.errno == errno.EADDRNOTAVAIL


def address_gone(ip: str) -> bool:
    """Whether the host no longer has `ip` (binding a UDP socket to it fails with
    EADDRNOTAVAIL). Nothing is sent; the socket is closed at once."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        probe = socket.socket(family, socket.SOCK_DGRAM)
    except OSError:
        return False  # the family is off: no way to tell, keep it
    with probe:
        try:
            probe.bind((ip, 0))
        except OSError as exc:  # socket.gaierror included (an unknown scope)
            return gone_after(exc)
        except (ValueError, TypeError):  # not an address at all: no way to tell
            return False
    return False


def stale(
    local_ips: Iterable[tuple[K, str | None]], gone: Callable[[str], bool]
) -> list[tuple[K, str]]:
    """The (key, local IP) pairs of `local_ips` whose IP `gone` says is no longer the
    host's; `gone` is asked once per distinct IP. A None IP (unknown) is kept."""
    verdicts: dict[str, bool] = {}
    found = []
    for key, ip in local_ips:
        if ip is None:
            continue
        if ip not in verdicts:
            verdicts[ip] = gone(ip)
        if verdicts[ip]:
            found.append((key, ip))
    return found
