"""Who answers what, and REPORT requests (RFC 4975 sections 7.1.2, 7.2, 7.3).

Responses are hop-by-hop: each receiver answers the previous hop. Whether a
SEND gets one follows its Failure-Report header (section 7.1.1/7.2):
``yes`` (the default) every response, ``partial`` only negative ones,
``no`` none. REPORT is never answered (section 7.1.2); AUTH (RFC 4976) and
other methods always are.

A REPORT goes end to end: its To-Path is the whole From-Path of the SEND it
reports on, its From-Path the reporter's URI; it names the Message-ID, the
Byte-Range it covers and a Status (``000 200`` for success). Success REPORTs
are sent by the receiving endpoint, once for the whole message, when the
SEND asked for them (``Success-Report: yes``). Failure REPORTs are a relay's
(RFC 4976): an endpoint conveys failure in its response.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipsimple_services.msrp.protocol.headers import (
    ByteRange,
    FailureReport,
    Status,
    format_path,
)
from sipsimple_services.msrp.protocol.message import REASONS, MSRPRequest
from sipsimple_services.msrp.protocol.uri import MSRPURI

__all__ = [
    "ReportReceived",
    "expects_response",
    "make_report",
    "read_report",
    "should_respond",
]


def should_respond(request: MSRPRequest, code: int) -> bool:
    """Whether the receiver of `request` sends a response with this code."""
    if request.method == "REPORT":
        return False
    if request.method != "SEND":
        return True
    mode = request.failure_report
    if mode is FailureReport.NO:
        return False
    if mode is FailureReport.PARTIAL:
        return code != 200
    return True


def expects_response(request: MSRPRequest) -> bool:
    """Whether the sender of `request` waits for a response (and times out: 408)."""
    if request.method == "REPORT":
        return False
    if request.method == "SEND":
        return request.failure_report is FailureReport.YES
    return True


def make_report(
    transaction_id: str,
    *,
    to_path: tuple[MSRPURI, ...],
    local_uri: MSRPURI,
    message_id: str,
    byte_range: ByteRange,
    status: Status,
) -> MSRPRequest:
    """A REPORT (section 7.1.2) on `message_id` to the sender path `to_path`."""
    return MSRPRequest(
        transaction_id,
        "REPORT",
        (
            ("To-Path", format_path(to_path)),
            ("From-Path", str(local_uri)),
            ("Message-ID", message_id),
            ("Byte-Range", str(byte_range)),
            ("Status", str(status)),
        ),
    )


def success_status() -> Status:
    return Status(200, REASONS[200])


@dataclass(frozen=True)
class ReportReceived:
    """A REPORT read: success when the status code is 200."""

    message_id: str
    byte_range: ByteRange | None
    status: Status

    @property
    def success(self) -> bool:
        return self.status.code == 200


def read_report(request: MSRPRequest) -> ReportReceived | None:
    """The REPORT's meaning, or None when it lacks Message-ID or Status (dropped)."""
    message_id = request.message_id
    status = request.status
    if message_id is None or status is None:
        return None
    return ReportReceived(message_id, request.byte_range, status)
