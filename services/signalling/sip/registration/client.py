"""REGISTER client (RFC 3261 section 10, RFC 5626 instance ids), sans-IO.

One `Registration` keeps one AOR's contacts bound at one registrar. The
`RegistrationLayer` creates them and carries out their outputs (see
`owner_layer`); the glue calls `register`/`unregister` on commands and
feeds it TU events and timers.

Rules:

- One Call-ID for the registration's life and a CSeq that grows by one per
  REGISTER, refreshes and retries included (10.2).
- Our binding in the 200 is the Contact with our ``+sip.instance`` (and
  ``reg-id``), else the one whose URI matches ours (19.1.4); its
  ``expires`` parameter, else the Expires header, else what we asked for,
  is the granted time. The refresh goes out after
  ``max(granted / 2, granted - REFRESH_MARGIN)`` seconds.
- 423 retries at once with the Min-Expires; 401/407 retry with the
  `AuthSession`'s credentials.
- Any other failure (a local 408 for a timeout, 503 for the transport)
  reports `RegistrationFailed` and retries after `RetryPolicy.delay`: the
  Retry-After header when there is one; 60-120 s after refused credentials;
  15-40 s after a 408; otherwise 1, 2, 4 ... 30 s for consecutive failures.
- `unregister` sends Expires: 0 with each contact's ``expires=0``; a
  REGISTER in flight is let finish first. The end is reported whatever the
  answer (`RegistrationEnded` with its code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sipsimple.core import SIPURI, URI
from sipsimple.core.headers import (
    CallIDHeader,
    ContactHeader,
    CSeqHeader,
    ExpiresHeader,
    FromHeader,
    Header,
    MaxForwardsHeader,
    MinExpiresHeader,
    RouteHeader,
    ToHeader,
)
from sipsimple_services.signalling.sip.auth import AuthRetry, AuthSession
from sipsimple_services.signalling.sip.dialogs.dialog import route_request
from sipsimple_services.signalling.sip.invite.glare import RandomBelow, urandom_below
from sipsimple_services.signalling.sip.invite.machinery import PLACEHOLDER_VIA
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.effects import CancelTimer, StartTimer, TUEvent
from sipsimple_services.signalling.sip.usage import Output, OutRequest, OwnerLayer, timer_key

__all__ = [
    "REFRESH_MARGIN",
    "Registration",
    "RegistrationEnded",
    "RegistrationFailed",
    "RegistrationLayer",
    "RegistrationSucceeded",
    "RetryPolicy",
    "refresh_delay",
]

REFRESH_MARGIN = 60.0


def refresh_delay(granted: float) -> float:
    """When to refresh a binding or subscription granted for ``granted`` seconds."""
    return max(granted / 2, granted - REFRESH_MARGIN, 1.0)


@dataclass(frozen=True)
class RegistrationEvent(TUEvent):
    registration: str


@dataclass(frozen=True)
class RegistrationSucceeded(RegistrationEvent):
    contact_header: ContactHeader | None  # ours, as the registrar returned it
    contact_header_list: tuple[ContactHeader, ...]  # every binding of the AOR
    expires: int
    code: int
    reason: str


@dataclass(frozen=True)
class RegistrationFailed(RegistrationEvent):
    code: int
    reason: str
    retry_after: float | None  # None: no retry (unregistering)


@dataclass(frozen=True)
class RegistrationEnded(RegistrationEvent):
    code: int
    reason: str


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off after a failure (the original SDK's numbers)."""

    first: float = 1.0
    maximum: float = 30.0
    auth_failure: tuple[float, float] = (60.0, 120.0)
    timeout: tuple[float, float] = (15.0, 40.0)

    def delay(self, response: SIPResponse, failures: int, auth_failed: bool,
              random_below: RandomBelow) -> float:
        retry_after = response.header("Retry-After")
        if retry_after is not None:
            text = str(retry_after).split(";", 1)[0].strip()
            if text.isdigit():
                return float(max(int(text), 1))
        if auth_failed:
            low, high = self.auth_failure
        elif response.code == 408:
            low, high = self.timeout
        else:
            return min(self.first * 2 ** max(failures - 1, 0), self.maximum)
        return low + random_below(int(high - low) + 1)


class State(StrEnum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING = "waiting"  # for the retry after a failure
    UNREGISTERING = "unregistering"
    ENDED = "ended"


class Ev(StrEnum):
    REGISTER = "register"
    UNREGISTER = "unregister"
    SUCCESS = "success"
    CHALLENGE = "challenge"
    TOO_BRIEF = "too_brief"
    FAILURE = "failure"
    REFRESH = "refresh"
    RETRY = "retry"


S, E = State, Ev
# (state, event) -> (new state, action); an action may return another state.
TABLE: dict[tuple[State, Ev], tuple[State, str]] = {
    (S.IDLE, E.REGISTER): (S.REGISTERING, "send_register"),
    (S.REGISTERED, E.REGISTER): (S.REGISTERING, "send_register"),
    (S.WAITING, E.REGISTER): (S.REGISTERING, "send_register"),
    (S.REGISTERED, E.REFRESH): (S.REGISTERING, "send_register"),
    (S.WAITING, E.RETRY): (S.REGISTERING, "send_register"),
    (S.REGISTERING, E.SUCCESS): (S.REGISTERED, "registered"),
    (S.REGISTERING, E.CHALLENGE): (S.REGISTERING, "auth_retry"),
    (S.REGISTERING, E.TOO_BRIEF): (S.REGISTERING, "interval_retry"),
    (S.REGISTERING, E.FAILURE): (S.WAITING, "failed"),
    (S.REGISTERING, E.UNREGISTER): (S.REGISTERING, "defer_unregister"),
    (S.REGISTERED, E.UNREGISTER): (S.UNREGISTERING, "send_unregister"),
    (S.WAITING, E.UNREGISTER): (S.ENDED, "ended_locally"),
    (S.IDLE, E.UNREGISTER): (S.ENDED, "ended_locally"),
    (S.UNREGISTERING, E.SUCCESS): (S.ENDED, "ended"),
    (S.UNREGISTERING, E.FAILURE): (S.ENDED, "ended"),
    (S.UNREGISTERING, E.TOO_BRIEF): (S.ENDED, "ended"),
    (S.UNREGISTERING, E.CHALLENGE): (S.UNREGISTERING, "auth_retry"),
}


class RegistrationError(Exception):
    """`register`/`unregister` in a state that does not allow it."""


def _ours(mine: ContactHeader, theirs: ContactHeader) -> bool:
    instance = mine.instance
    if instance is not None and theirs.instance is not None:
        return instance == theirs.instance and mine.parameter("reg-id") == theirs.parameter(
            "reg-id")
    uri = mine.uri
    return isinstance(uri, SIPURI) and uri.matches(theirs.uri)


class Registration:
    def __init__(
        self, id: str, *, aor: SIPURI, contacts: Sequence[ContactHeader], registrar: Destination,
        call_id: str, from_tag: str, expires: int = 600, auth: AuthSession | None = None,
        request_uri: URI | None = None, routes: Sequence[RouteHeader] = (),
        display_name: str | None = None, instance_id: str | None = None,
        reg_id: int | None = None, headers: Sequence[Header] = (),
        policy: RetryPolicy | None = None, random_below: RandomBelow = urandom_below,
    ) -> None:
        if not contacts:
            raise RegistrationError("a registration needs a contact")
        self.id = id
        self.aor = aor
        extra: dict[str, str] = {}
        if instance_id is not None:
            extra["+sip.instance"] = f'"<{instance_id}>"'
        if reg_id is not None:
            extra["reg-id"] = str(reg_id)
        self.contacts = tuple(c.with_parameters(**extra) if extra else c for c in contacts)
        self.registrar = registrar
        self.call_id = call_id
        self.from_ = FromHeader(aor, display_name).with_tag(from_tag)
        self.expires = expires
        self.auth = auth
        self.request_uri = request_uri or SIPURI(aor.host, port=aor.port, secure=aor.secure)
        self.routes = tuple(routes)
        self.headers = tuple(headers)
        self.policy = policy or RetryPolicy()
        self.random_below = random_below
        self.state = State.IDLE
        self.cseq = 0
        self.failures = 0
        self.granted: int | None = None
        self._unregister_pending = False
        self._sending_expires = expires
        self._timers: set[str] = set()
        self._out: list[Output] = []

    @property
    def finished(self) -> bool:
        return self.state is State.ENDED

    # -- inputs ---------------------------------------------------------------

    def register(self, now: float) -> list[Output]:
        return self._run(Ev.REGISTER, None, api=True)

    def unregister(self, now: float) -> list[Output]:
        return self._run(Ev.UNREGISTER, None, api=True)

    def on_response(self, response: SIPResponse, now: float) -> list[Output]:
        if response.code < 200:
            return []
        if response.code < 300:
            ev = Ev.SUCCESS
        elif response.code in (401, 407) and self.auth is not None:
            ev = Ev.CHALLENGE
        elif response.code == 423:
            ev = Ev.TOO_BRIEF
        else:
            ev = Ev.FAILURE
        if self.auth is not None and ev is not Ev.CHALLENGE:
            self.auth.handle_response(response)
        return self._run(ev, response)

    def timer_fired(self, name: str, now: float) -> list[Output]:
        if name not in self._timers:
            return []
        self._timers.discard(name)
        return self._run(Ev.REFRESH if name == "refresh" else Ev.RETRY, None)

    # -- the table ----------------------------------------------------------------

    def _run(self, ev: Ev, arg: SIPResponse | None, api: bool = False) -> list[Output]:
        entry = TABLE.get((self.state, ev))
        if entry is None:
            if api:
                raise RegistrationError(f"{ev} is not possible in state {self.state}")
            return []
        new, action = entry
        override = getattr(self, f"_do_{action}")(arg)
        self.state = override if override is not None else new
        if self.state is State.ENDED:
            for name in sorted(self._timers):
                self._cancel(name)
        out, self._out = self._out, []
        return out

    # -- actions ----------------------------------------------------------------------

    def _do_send_register(self, _: object) -> None:
        for name in sorted(self._timers):
            self._cancel(name)
        self._send(self.expires)

    def _do_registered(self, response: SIPResponse) -> State | None:
        self.failures = 0
        bindings = tuple(c for c in response.contact if not c.is_wildcard)
        mine = next((c for c in bindings if any(_ours(m, c) for m in self.contacts)), None)
        header = response.header("Expires")
        granted = (mine.expires if mine is not None else None)
        if granted is None:
            granted = header.value if isinstance(header, ExpiresHeader) else self._sending_expires
        self.granted = granted
        self._out.append(RegistrationSucceeded(
            self.id, mine, bindings, granted, response.code, response.reason))
        if self._unregister_pending:
            self._send(0)
            return State.UNREGISTERING
        self._start("refresh", refresh_delay(granted))
        return None

    def _do_auth_retry(self, response: SIPResponse) -> State | None:
        assert self.auth is not None
        outcome = self.auth.handle_response(response)
        if isinstance(outcome, AuthRetry):
            self._send(self._sending_expires)
            return None
        return self._fail(response, auth_failed=True)

    def _do_interval_retry(self, response: SIPResponse) -> State | None:
        minimum = response.header("Min-Expires")
        if isinstance(minimum, MinExpiresHeader) and minimum.value > self._sending_expires:
            self.expires = minimum.value
            self._send(self.expires)
            return None
        return self._fail(response)

    def _do_failed(self, response: SIPResponse) -> State | None:
        return self._fail(response)

    def _fail(self, response: SIPResponse, auth_failed: bool = False) -> State:
        if self.state is State.UNREGISTERING or self._unregister_pending:
            self._out.append(RegistrationEnded(self.id, response.code, response.reason))
            return State.ENDED
        self.failures += 1
        delay = self.policy.delay(response, self.failures, auth_failed, self.random_below)
        self._out.append(RegistrationFailed(self.id, response.code, response.reason, delay))
        self._start("retry", delay)
        return State.WAITING

    def _do_defer_unregister(self, _: object) -> None:
        self._unregister_pending = True

    def _do_send_unregister(self, _: object) -> None:
        self._cancel("refresh")
        self._send(0)

    def _do_ended_locally(self, _: object) -> None:
        self._out.append(RegistrationEnded(self.id, 200, "Not registered"))

    def _do_ended(self, response: SIPResponse) -> None:
        self._out.append(RegistrationEnded(self.id, response.code, response.reason))

    # -- helpers -----------------------------------------------------------------

    def _send(self, expires: int) -> None:
        self._sending_expires = expires  # what a 401/407 retry repeats
        self.cseq += 1
        if expires == 0:
            self._unregister_pending = True
            contacts = tuple(c.with_parameters(expires=0) for c in self.contacts)
        else:
            contacts = self.contacts
        routed = route_request(self.request_uri, self.routes)
        headers: list[Header] = [
            PLACEHOLDER_VIA, MaxForwardsHeader(70), *routed.routes, self.from_,
            ToHeader(self.aor, self.from_.display_name), CallIDHeader(self.call_id),
            CSeqHeader(self.cseq, "REGISTER"), *contacts, ExpiresHeader(expires), *self.headers,
        ]
        if self.auth is not None:
            headers += self.auth.authorize("REGISTER", routed.uri)
        self._out.append(OutRequest(SIPRequest("REGISTER", routed.uri, tuple(headers)),
                                    self.registrar))

    def _start(self, name: str, delay: float) -> None:
        if name in self._timers:
            self._cancel(name)
        self._timers.add(name)
        self._out.append(StartTimer(timer_key(RegistrationLayer.kind, self.id), name, delay))

    def _cancel(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._out.append(CancelTimer(timer_key(RegistrationLayer.kind, self.id), name))


class RegistrationLayer(OwnerLayer[Registration]):
    """Every registration of the service; see `owner_layer` for the plumbing."""

    kind = "registration"

    def register(
        self, aor: SIPURI, contacts: Sequence[ContactHeader], registrar: Destination,
        now: float, **options: object,
    ) -> tuple[str, list]:
        """Create a registration and send its REGISTER; its id and the effects.

        ``options`` are `Registration`'s keywords (expires, auth, routes,
        instance_id, reg_id, request_uri, display_name, headers, policy,
        random_below).
        """
        rid = self._new_id()
        registration = Registration(
            rid, aor=aor, contacts=contacts, registrar=registrar,
            call_id=self.transactions.new_branch()[7:], from_tag=self.transactions.new_tag(),
            **options,  # type: ignore[arg-type]
        )
        self._owners[rid] = registration
        return rid, self._run(registration, registration.register(now), now)

    def refresh(self, rid: str, now: float) -> list:
        registration = self.owner(rid)
        return self._run(registration, registration.register(now), now)

    def unregister(self, rid: str, now: float) -> list:
        registration = self.owner(rid)
        return self._run(registration, registration.unregister(now), now)
