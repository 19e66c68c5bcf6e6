"""Response and REPORT rules (RFC 4975 sections 7.1.2, 7.2)."""

from __future__ import annotations

import pytest
from msrp_strategies import ALICE, BOB, RFC_REPORT

from sipsimple_services.msrp.protocol.headers import ByteRange, Status
from sipsimple_services.msrp.protocol.message import MSRPRequest
from sipsimple_services.msrp.protocol.parser import parse_messages
from sipsimple_services.msrp.protocol.reports import (
    expects_response,
    make_report,
    read_report,
    should_respond,
    success_status,
)
from sipsimple_services.msrp.protocol.uri import parse_uri


def request(method: str = "SEND", *extra: tuple[str, str]) -> MSRPRequest:
    return MSRPRequest("tid00001", method, (("To-Path", BOB), ("From-Path", ALICE), *extra))


@pytest.mark.parametrize(
    ("failure_report", "code", "answered"),
    [
        (None, 200, True), (None, 415, True),
        ("yes", 200, True), ("yes", 481, True),
        ("partial", 200, False), ("partial", 413, True),
        ("no", 200, False), ("no", 400, False),
    ],
)
def test_send_responses_follow_failure_report(failure_report: str | None, code: int,
                                              answered: bool) -> None:
    extra = () if failure_report is None else (("Failure-Report", failure_report),)
    assert should_respond(request("SEND", *extra), code) is answered


def test_report_is_never_answered_auth_always() -> None:
    assert not should_respond(request("REPORT"), 200)
    assert not should_respond(request("REPORT"), 400)
    assert should_respond(request("AUTH"), 200)
    assert should_respond(request("FOO"), 501)


def test_sender_waits_only_where_a_200_comes() -> None:
    assert expects_response(request())
    assert expects_response(request("SEND", ("Failure-Report", "yes")))
    assert not expects_response(request("SEND", ("Failure-Report", "partial")))
    assert not expects_response(request("SEND", ("Failure-Report", "no")))
    assert not expects_response(request("REPORT"))
    assert expects_response(request("AUTH"))


def test_make_report_matches_the_rfc_example() -> None:
    report = make_report(
        "dkei38sd", to_path=(parse_uri(ALICE),), local_uri=parse_uri(BOB),
        message_id="12339sdqwer", byte_range=ByteRange(1, 106, 106), status=success_status())
    assert bytes(report) == RFC_REPORT


def test_report_goes_end_to_end_over_the_whole_from_path() -> None:
    relay = "msrps://relay.example.net:2855/r1;tcp"
    report = make_report(
        "abcd1234", to_path=(parse_uri(relay), parse_uri(ALICE)), local_uri=parse_uri(BOB),
        message_id="m1234567", byte_range=ByteRange(1, 5, 5), status=Status(200, "OK"))
    assert report.header("To-Path") == f"{relay} {ALICE}"


def test_read_report() -> None:
    (parsed,) = parse_messages(RFC_REPORT)
    assert isinstance(parsed, MSRPRequest)
    report = read_report(parsed)
    assert report is not None and report.success
    assert report.message_id == "12339sdqwer" and report.byte_range == ByteRange(1, 106, 106)
    failed = read_report(request("REPORT", ("Message-ID", "m1234567"), ("Status", "000 413")))
    assert failed is not None and not failed.success and failed.status.code == 413
    assert read_report(request("REPORT", ("Message-ID", "m1234567"))) is None
