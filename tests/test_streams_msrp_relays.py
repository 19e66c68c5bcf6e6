"""sipsimple.streams.msrp.relays: what a relay lookup's outcome becomes, and how long it is kept.

The lookup and the clock are given (pure code); the DNS service's side is in
tests/test_lookup.py and the streams through a relay found by DNS in
tests/test_streams_msrp_chat.py.
"""

from __future__ import annotations

import logging

import pytest

from sipsimple.core import Route
from sipsimple.lookup import DNSLookupError
from sipsimple.streams.msrp.relays import KEEP_FAILURE_FOR, KEEP_FOR, RelayFinder

RELAY = Route("192.0.2.6", 2856, "tls", "example.test")


class Zone:
    """Answers by (domain, transport), or raises the DNSLookupError given; counts the asks."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Route] | DNSLookupError] = {}
        self.asked: list[tuple[str, str]] = []

    def __call__(self, domain: str, transport: str) -> list[Route]:
        self.asked.append((domain, transport))
        answer = self.answers.get((domain, transport),
                                  DNSLookupError("no records", reason="not-found"))
        if isinstance(answer, DNSLookupError):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def zone() -> Zone:
    return Zone()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_first_route_is_the_relay_and_it_is_kept(zone: Zone, clock: Clock) -> None:
    zone.answers[("example.test", "tls")] = [RELAY, Route("192.0.2.7", 2856, "tls")]
    finder = RelayFinder(zone, clock)
    assert finder.find("Example.Test.", "tls") == RELAY
    clock.now += KEEP_FOR - 1
    assert finder.find("example.test", "tls") == RELAY
    assert zone.asked == [("example.test", "tls")]
    clock.now += 2
    assert finder.find("example.test", "tls") == RELAY
    assert zone.asked == [("example.test", "tls")] * 2


def test_transports_are_looked_up_apart(zone: Zone, clock: Clock) -> None:
    zone.answers[("example.test", "tcp")] = [Route("192.0.2.8", 2857, "tcp")]
    finder = RelayFinder(zone, clock)
    assert finder.find("example.test", "tls") is None
    assert finder.find("example.test", "tcp") == Route("192.0.2.8", 2857, "tcp")


@pytest.mark.parametrize(("error", "kept"), [
    (DNSLookupError("no records", reason="not-found"), KEEP_FOR),
    (DNSLookupError("no answer", reason="timeout"), KEEP_FAILURE_FOR),
    (DNSLookupError("DNS service unavailable", reason="unavailable"), KEEP_FAILURE_FOR),
])
def test_no_relay_is_a_direct_connection_for_a_while(
        zone: Zone, clock: Clock, error: DNSLookupError, kept: float,
        caplog: pytest.LogCaptureFixture) -> None:
    zone.answers[("example.test", "tls")] = error
    finder = RelayFinder(zone, clock)
    with caplog.at_level(logging.INFO, logger="sipsimple.streams.msrp.relays"):
        assert finder.find("example.test", "tls") is None
    assert (f"no MSRP relay for example.test (tls): {error.reason}: {error}; "
            "connecting directly") in caplog.text
    clock.now += kept - 1
    assert finder.find("example.test", "tls") is None
    assert len(zone.asked) == 1
    zone.answers[("example.test", "tls")] = [RELAY]
    clock.now += 2
    assert finder.find("example.test", "tls") == RELAY


def test_an_empty_answer_is_no_relay(zone: Zone, clock: Clock) -> None:
    zone.answers[("example.test", "tls")] = []
    assert RelayFinder(zone, clock).find("example.test", "tls") is None


def test_an_unusable_relay_is_skipped_for_a_while(zone: Zone, clock: Clock) -> None:
    zone.answers[("example.test", "tls")] = [RELAY]
    finder = RelayFinder(zone, clock)
    assert finder.find("example.test", "tls") == RELAY
    finder.unusable("example.test", "tls", "connection refused")
    assert finder.find("example.test", "tls") is None
    clock.now += KEEP_FAILURE_FOR + 1
    assert finder.find("example.test", "tls") == RELAY
    finder.clear()
    assert finder.find("example.test", "tls") == RELAY
    assert len(zone.asked) == 3
