"""The media service's `nat_probe` method (its I/O in `natprobe`, its logic in `ice.natprobe`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sipsimple import __version__
from sipsimple.bus.schema import ErrorCode
from sipsimple_services.common.service import ServiceError
from sipsimple_services.media.natprobe import ProbeError, run_probe

__all__ = ["NatProbeMethods"]

STUN_PORT = 3478


def _address(host: str, port: int, what: str) -> tuple[str, int]:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ServiceError(ErrorCode.INVALID_PARAMS,
                           f"{what} must be an IP address (the facade resolves names), "
                           f"not {host!r}") from None
    if not 0 < port <= 65535:
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"{what} port must be in 1..65535")
    return str(ip), port


class NatProbeMethods:
    """Mixed into MediaService; runs in a greenlet of its own (a probe takes seconds)."""

    def rpc_nat_probe(self, client: str, server: str, port: int | None = None,
                      second_server: str | None = None, second_port: int | None = None,
                      address: str | None = None) -> dict[str, Any]:
        primary = _address(server, STUN_PORT if port is None else port, "server")
        second = (_address(second_server, STUN_PORT if second_port is None else second_port,
                           "second_server")
                  if second_server else None)
        local_ip = _address(address, 1, "address")[0] if address else None
        try:
            result = run_probe(primary, second=second, local_ip=local_ip,
                               software=f"sipsimple {__version__}")
        except ProbeError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        return {
            "local": list(result.local), "server": list(result.server),
            "mapped": list(result.mapped) if result.mapped is not None else None,
            "other_address": list(result.other_address) if result.other_address else None,
            "mapping": str(result.mapping), "filtering": str(result.filtering),
            "method": result.method, "nat_type": result.nat_type, "error": result.error,
        }
