"""Helpers for facade session tests: accounts in one process, calls between them, waits.

Shared by tests/test_session.py and the SIPp, Kamailio, TLS and recovery tests.
The accounts live in this process, are claimed on the signalling service by the AccountManager,
and a call between two of them leaves the service and comes back in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from harness.notifications import Recorder
from harness.streams import ProbeStream
from sipsimple.account import Account, AccountManager
from sipsimple.bus.client import get_bus
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification
from sipsimple.session import Session, SessionManager

DOMAIN = "sip.test"


def session_services(spawn_service: Callable[..., Any], **env: str) -> None:
    """The services a call between facade accounts needs: signalling (with `env`) and dns.

    A client that goes away loses its calls after 2 s (not the default's 15),
    so a test's leftovers are cleaned up while it still runs.
    """
    spawn_service("sipsimple_services.signalling", "signalling",
                  **{"SIPSIMPLE_CLIENT_TIMEOUT": "2", **env})
    spawn_service("sipsimple_services.dns", "dns")


@contextmanager
def facade(names: Iterable[str], configure: Callable[[Account], None] | None = None,
           domain: str = DOMAIN, claim: bool = True) -> Iterator[dict[str, Account]]:
    """The configuration, AccountManager and SessionManager running with these accounts.

    `configure(account)` runs before each account is saved (credentials, proxy);
    by default accounts do not register. With `claim` the accounts are claimed on
    the signalling service before this yields.
    """
    ProbeStream.fail_initialize = ProbeStream.fail_start = ProbeStream.decline = False
    ConfigurationManager().start(MemoryBackend())
    created: dict[str, Account] = {}
    try:
        for name in names:
            account = Account(f"{name}@{domain}")
            account.enabled = True
            account.display_name = name.title()
            account.sip.register = False
            if configure is not None:
                configure(account)
            account.save()
            created[name] = account
        AccountManager().start()
        SessionManager().start()
        if claim:
            wait_claimed([str(a.uri) for a in created.values()])
        yield created
    finally:
        SessionManager().stop()
        AccountManager().stop()
        ConfigurationManager().stop()


def wait_claimed(aors: list[str], timeout: float = 10) -> None:
    """Until the signalling service lists every one of `aors` as claimed."""
    deadline = time.monotonic() + timeout
    while True:
        status = get_bus().call("signalling", "status")
        if set(aors) <= {claim["aor"] for claim in status["accounts"]}:
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def route(transport: str = "udp", tls_name: str | None = None) -> Route:
    """The signalling service's own listening address for `transport`."""
    ports = get_bus().call("signalling", "get_transports")
    return Route("127.0.0.1", ports[transport], transport, tls_name)


def to(name: str, domain: str = DOMAIN) -> ToHeader:
    return ToHeader(SIPURI(user=name, host=domain))


def session_names(events: Recorder, session: Session) -> list[str]:
    """The SIPSession* notifications of `session` in order, without transactions."""
    return [n.name for n in events.seen if n.sender is session and n.name.startswith("SIPSession")
            and n.name != "SIPSessionDidProcessTransaction"]


def of(events: Recorder, session: Session, name: str) -> list[Notification]:
    return [n for n in events.seen if n.sender is session and n.name == name]


def sent_by(session: Session, name: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == name and n.sender is session


def incoming(events: Recorder, after: Session | None = None) -> Notification:
    return events.wait(lambda n: n.name == "SIPSessionNewIncoming" and n.sender is not after)


def call(events: Recorder, caller: Account, callee: str, routes: list[Route],
         streams: int = 1, timeout: float = 15) -> tuple[Session, Session]:
    """Place a call over `routes` and accept it; both sessions connected."""
    seen = {id(n) for n in events.named("SIPSessionNewIncoming")}
    session = Session(caller)
    session.connect(to(callee, caller.domain), routes,
                    [ProbeStream(caller) for _ in range(streams)])
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming" and id(n) not in seen,
                      timeout)
    answering: Session = new.sender
    answering.accept(new.data.streams)
    events.wait(sent_by(session, "SIPSessionDidStart"), timeout)
    events.wait(sent_by(answering, "SIPSessionDidStart"), timeout)
    return session, answering


__all__ = ["DOMAIN", "call", "facade", "incoming", "of", "route", "sent_by", "session_names",
           "to", "wait_claimed"]
