"""REGISTER client: bindings, refresh timing, 423, digest, several contacts, back-off."""

from __future__ import annotations

import itertools

from sip_transaction_fixtures import FakeClock

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.auth import AuthSession, Credentials
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, make_response
from sipsimple_services.signalling.sip.registration.client import (
    RegistrationEnded,
    RegistrationFailed,
    RegistrationLayer,
    RegistrationSucceeded,
    refresh_delay,
)
from sipsimple_services.signalling.sip.transactions.effects import Effect, Send, TUEvent
from sipsimple_services.signalling.sip.transactions.layer import TransactionLayer

REGISTRAR = Destination("192.0.2.50", 5060, "TCP")
AOR = SIPURI("example.com", user="alice")
CONTACT = h.ContactHeader(SIPURI("192.0.2.10", user="alice", port=5060))
INSTANCE = "urn:uuid:00000000-0000-1000-8000-000A95A0E128"


class Harness:
    def __init__(self, **options: object) -> None:
        counter = itertools.count(1)
        self.tl = TransactionLayer(random_bytes=lambda n: next(counter).to_bytes(n, "big"))
        self.layer = RegistrationLayer(
            self.tl, local_via=lambda d: h.ViaHeader(d.transport, "192.0.2.10", 5060))
        self.clock = FakeClock(self._fire)
        self.sent: list[SIPRequest] = []
        self.events: list[TUEvent] = []
        self.rid, effects = self.layer.register(
            AOR, [CONTACT], REGISTRAR, 0.0, **options)  # type: ignore[arg-type]
        self.take(effects)

    def _fire(self, key: object, name: str, now: float) -> list[Effect]:
        if key[0] == "registration":  # type: ignore[index]
            return self.collect(self.layer.timer_fired(key, name, now))  # type: ignore[arg-type]
        return self.collect(self._pass(self.tl.timer_fired(key, name, now), now))  # type: ignore[arg-type]

    def _pass(self, effects: list[Effect], now: float) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            handled = self.layer.handle(effect, now)
            out += [effect] if handled is None else handled
        return out

    def collect(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, Send) and isinstance(effect.message, SIPRequest):
                self.sent.append(effect.message)
            elif isinstance(effect, TUEvent):
                self.events.append(effect)
        return effects

    def take(self, effects: list[Effect]) -> None:
        self.clock.apply(self.collect(effects))

    def answer(self, code: int, headers: tuple[h.Header, ...] = ()) -> None:
        request = self.sent[-1]
        response = make_response(request, code, to_tag="reg1", headers=headers)
        self.take(self._pass(self.tl.receive(response, REGISTRAR, self.clock.now), self.clock.now))

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def ok_contacts(*contacts: h.ContactHeader) -> tuple[h.Header, ...]:
    return contacts


def test_register_200_and_refresh_keeps_call_id_and_counts_cseq() -> None:
    reg = Harness(expires=600)
    first = reg.sent[-1]
    assert first.method == "REGISTER" and str(first.uri) == "sip:example.com"
    assert first.header("Expires").value == 600  # type: ignore[union-attr]
    reg.answer(200, (CONTACT.with_parameters(expires=300),))
    ok = reg.of(RegistrationSucceeded)[-1]
    assert ok.expires == 300 and ok.contact_header is not None
    assert refresh_delay(300) == 240
    reg.clock.advance(239)
    assert len(reg.sent) == 1
    reg.clock.advance(1)
    second = reg.sent[-1]
    assert second is not first and second.call_id == first.call_id
    assert second.cseq.number == first.cseq.number + 1  # type: ignore[union-attr]
    assert second.from_.tag == first.from_.tag  # type: ignore[union-attr]


def test_refresh_rule_short_and_long() -> None:
    assert refresh_delay(60) == 30
    assert refresh_delay(3600) == 3540
    assert refresh_delay(1) == 1


def test_423_retries_with_min_expires() -> None:
    reg = Harness(expires=30)
    reg.answer(423, (h.MinExpiresHeader(120),))
    retry = reg.sent[-1]
    assert retry.header("Expires").value == 120  # type: ignore[union-attr]
    assert retry.cseq.number == 2  # type: ignore[union-attr]
    reg.answer(200, (CONTACT.with_parameters(expires=120),))
    assert reg.of(RegistrationSucceeded)[-1].expires == 120


def test_digest_challenge_is_answered() -> None:
    auth = AuthSession(Credentials("alice", "secret"), cnonce=lambda: "c0ffee")
    reg = Harness(auth=auth)
    challenge = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="n1", qop="auth"')
    reg.answer(401, (challenge,))
    retry = reg.sent[-1]
    assert retry.header("Authorization") is not None
    assert retry.cseq.number == 2  # type: ignore[union-attr]
    reg.answer(200, (CONTACT.with_parameters(expires=600),))
    assert reg.of(RegistrationSucceeded)


def test_refused_credentials_back_off_60_to_120() -> None:
    auth = AuthSession(Credentials("alice", "wrong"), cnonce=lambda: "c0ffee")
    reg = Harness(auth=auth, random_below=lambda n: 0)
    challenge = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="n1"')
    reg.answer(401, (challenge,))
    reg.answer(401, (challenge,))  # same nonce again: refused
    failed = reg.of(RegistrationFailed)[-1]
    assert failed.code == 401 and failed.retry_after == 60


def test_several_contacts_ours_found_by_instance() -> None:
    reg = Harness(instance_id=INSTANCE, reg_id=1)
    sent = reg.sent[-1].contact[0]
    assert sent.instance == INSTANCE and sent.parameter("reg-id") == "1"
    other = h.ContactHeader(SIPURI("198.51.100.7", user="alice"), parameters={"expires": "900"})
    ours = h.ContactHeader(SIPURI("203.0.113.9", user="alice"),  # NAT rewrote the URI
                           parameters={"expires": "450", "+sip.instance": f'"<{INSTANCE}>"',
                                       "reg-id": "1"})
    reg.answer(200, (other, ours))
    ok = reg.of(RegistrationSucceeded)[-1]
    assert ok.expires == 450 and len(ok.contact_header_list) == 2
    assert ok.contact_header == ours


def test_contact_found_by_uri_and_expires_header_fallback() -> None:
    reg = Harness(expires=600)
    other = h.ContactHeader(SIPURI("198.51.100.7", user="alice"), parameters={"expires": "50"})
    reg.answer(200, (other, CONTACT, h.ExpiresHeader(500)))
    ok = reg.of(RegistrationSucceeded)[-1]
    assert ok.expires == 500 and ok.contact_header == CONTACT


def test_unregister_sends_expires_zero() -> None:
    reg = Harness()
    reg.answer(200, (CONTACT.with_parameters(expires=600),))
    reg.take(reg.layer.unregister(reg.rid, reg.clock.now))
    bye = reg.sent[-1]
    assert bye.header("Expires").value == 0  # type: ignore[union-attr]
    assert bye.contact[0].expires == 0
    reg.answer(200)
    assert reg.of(RegistrationEnded)[-1].code == 200
    assert not reg.clock.timers and reg.rid not in reg.layer.owners()


def test_unregister_while_registering_waits_for_the_answer() -> None:
    reg = Harness()
    reg.take(reg.layer.unregister(reg.rid, reg.clock.now))
    assert len(reg.sent) == 1
    reg.answer(200, (CONTACT.with_parameters(expires=600),))
    assert reg.sent[-1].header("Expires").value == 0  # type: ignore[union-attr]
    reg.answer(200)
    assert reg.of(RegistrationEnded)


def test_failure_back_off_doubles_to_30_and_retry_after_wins() -> None:
    reg = Harness()
    delays = []
    for _ in range(7):
        reg.answer(500)
        delays.append(reg.of(RegistrationFailed)[-1].retry_after)
        reg.clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    reg.answer(503, (h.GenericHeader("Retry-After", "90"),))
    assert reg.of(RegistrationFailed)[-1].retry_after == 90
    reg.clock.advance(90)
    reg.answer(200, (CONTACT.with_parameters(expires=600),))
    assert reg.of(RegistrationSucceeded)
    assert reg.layer.owner(reg.rid).failures == 0


def test_timeout_is_a_failure_with_408_back_off() -> None:
    reg = Harness(random_below=lambda n: 5)
    reg.clock.run_out(limit=40)  # Timer F: local 408
    failed = reg.of(RegistrationFailed)
    assert failed and failed[0].code == 408 and failed[0].retry_after == 20


def test_transport_failure_is_a_failure() -> None:
    reg = Harness()
    key = next(iter(reg.tl.client_transactions))
    reg.take(reg._pass(reg.tl.transport_error(key, 0.0), 0.0))
    failed = reg.of(RegistrationFailed)[-1]
    assert failed.code == 503 and failed.retry_after == 1




def test_unregister_challenge_repeats_expires_zero() -> None:
    auth = AuthSession(Credentials("alice", "secret"), cnonce=lambda: "c0ffee")
    reg = Harness(auth=auth)
    reg.answer(200, (CONTACT.with_parameters(expires=600),))
    reg.take(reg.layer.unregister(reg.rid, reg.clock.now))
    challenge = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="n2"')
    reg.answer(401, (challenge,))
    retry = reg.sent[-1]
    assert retry.header("Authorization") is not None
    assert retry.header("Expires").value == 0  # type: ignore[union-attr]
    reg.answer(200)
    assert reg.of(RegistrationEnded)
