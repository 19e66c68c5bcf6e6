"""`UACore`: the transaction user for what happens outside dialogs.

It applies `ua_policy.decide` to each new request: answers what the service
answers itself, delivers what a client owns (`on_request`), and hands
everything dialog-shaped to the dialog layer (``dialog_layer``), falling
back to the policy's answer when there is none or it declines. Other TU
events the engine passes up (CANCEL, ACKs and responses matching nothing,
timeouts of server transactions) also go to the dialog layer first.

A request delivered for the client to answer (``code`` None: a MESSAGE
always, OPTIONS when the client asked) is answered 480 if the client does
not within ``answer_timeout`` seconds, or goes away or releases the account
it came under: the peer's transaction must not run into its own timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import gevent

from sipsimple.core import SIPParseError
from sipsimple.core.headers import Header, ServerHeader
from sipsimple_services.signalling.glue.engine import SignallingEngine
from sipsimple_services.signalling.glue.timer_wheel import later
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, make_response
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelReceived,
    MessageDropped,
    RequestReceived,
    TransactionTerminated,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.keys import ServerKey
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim
from sipsimple_services.signalling.sip.ua.policy import Answer, Deliver, ToDialogLayer, decide

__all__ = ["DialogLayer", "IncomingRequest", "NotPending", "UACore"]

log = logging.getLogger("sipsimple_services.signalling.ua")


class DialogLayer(Protocol):
    """The seam where dialogs, INVITE sessions and subscriptions plug in.

    ``handle`` gets every TU event the UA core does not handle itself: new
    requests with a To tag, INVITE/SUBSCRIBE/REFER for a claimed account
    (``claim``), CANCEL, ACKs and responses that match no transaction,
    server transaction timeouts (a missing ACK) and terminations. It returns
    False to leave the event to the UA core's fallback (481, 480, ...).
    """

    def handle(self, event: TUEvent, engine: SignallingEngine, claim: Claim | None) -> bool: ...


@dataclass(frozen=True)
class IncomingRequest:
    server_id: str
    request: SIPRequest
    source: Destination
    claim: Claim
    answered: int | None  # the code sent at once, None when the client must answer


class NotPending(LookupError):
    """`respond` names no request waiting for a client's answer."""


@dataclass
class _Pending:
    key: ServerKey
    request: SIPRequest
    client: str
    aor: str  # of the claim it was delivered under
    tag: str
    timer: gevent.Greenlet


class UACore:
    def __init__(
        self,
        accounts: AccountRegistry,
        *,
        server: str,
        on_request: Callable[[IncomingRequest], None] | None = None,
        on_refused: Callable[[SIPRequest, Destination, int], None] | None = None,
        dialog_layer: DialogLayer | None = None,
        answer_timeout: float = 20.0,
    ) -> None:
        self.accounts = accounts
        self.server = ServerHeader(server)
        self.on_request = on_request
        self.on_refused = on_refused  # an INVITE answered here: no client would know of it
        self.dialog_layer = dialog_layer
        self.answer_timeout = answer_timeout
        self._pending: dict[str, _Pending] = {}

    # -- TUHandler ------------------------------------------------------------------

    def handle(self, event: TUEvent, engine: SignallingEngine) -> None:
        if isinstance(event, RequestReceived):
            self._request(event, engine)
        elif isinstance(event, MessageDropped):
            log.info("dropped a message from %s: %s", event.source, event.reason)
        elif not self._to_dialog_layer(event, engine, None):
            if isinstance(event, CancelReceived):
                self._cancel(event, engine)
            elif isinstance(event, TransactionTerminated):
                pass
            else:
                log.debug("no dialog layer for %s", type(event).__name__)

    def _to_dialog_layer(
        self, event: TUEvent, engine: SignallingEngine, claim: Claim | None
    ) -> bool:
        if self.dialog_layer is None:
            return False
        try:
            return self.dialog_layer.handle(event, engine, claim)
        except Exception:
            log.exception("the dialog layer failed on %s", type(event).__name__)
            return False

    def _request(self, event: RequestReceived, engine: SignallingEngine) -> None:
        request = event.request
        decision = decide(request, self.accounts)
        if isinstance(decision, ToDialogLayer):
            if self._to_dialog_layer(event, engine, decision.claim):
                return
            decision = decision.fallback
        if isinstance(decision, Answer):
            self._answer(engine, event.key, request, decision.code, decision.headers)
            if request.method == "INVITE" and self.on_refused is not None:
                try:
                    self.on_refused(request, event.source, decision.code)
                except Exception:
                    log.exception("reporting a refused INVITE failed")
            return
        assert isinstance(decision, Deliver)
        server_id = engine.server_id(event.key)
        if decision.code is not None:
            self._answer(engine, event.key, request, decision.code)
        else:
            self._pending[server_id] = _Pending(
                event.key, request, decision.claim.client, decision.claim.aor, engine.new_tag(),
                later(self.answer_timeout, self._expire, engine, server_id),
            )
        if self.on_request is not None:
            try:
                self.on_request(IncomingRequest(
                    server_id, request, event.source, decision.claim, decision.code
                ))
            except Exception:
                log.exception("delivering a %s failed", request.method)

    def _answer(
        self, engine: SignallingEngine, key: ServerKey, request: SIPRequest, code: int,
        headers: Sequence[Header] = (), *, reason: str | None = None, body: bytes = b"",
        tag: str | None = None,
    ) -> None:
        response = make_response(
            request, code, reason, to_tag=tag or engine.new_tag(),
            headers=(*headers, self.server), body=body,
        )
        try:
            engine.send_response(key, response)
        except TransactionError as exc:  # ended meanwhile (e.g. the connection went away)
            log.info("could not answer %s: %s", request.method, exc)

    def _cancel(self, event: CancelReceived, engine: SignallingEngine) -> None:
        # RFC 3261 9.2: 200 for the CANCEL, 487 for the INVITE if still unanswered.
        self._answer(engine, event.key, event.request, 200)
        transaction = engine.layer.server_transactions.get(event.invite_key)
        if transaction is not None and transaction.final_response is None:
            self._answer(engine, event.invite_key, transaction.request, 487)

    # -- answers from clients -----------------------------------------------------

    def respond(
        self, engine: SignallingEngine, server_id: str, code: int, reason: str | None,
        headers: Sequence[Header], body: bytes, *, client: str | None = None,
    ) -> None:
        """A client's answer to a delivered request (a 1xx keeps it pending).

        Raises `NotPending` for an unknown id or one delivered to another
        client than ``client`` (None: any), `SIPParseError`/`ValueError` for a
        response that cannot be built.
        """
        pending = self._pending.get(server_id)
        if pending is None or (client is not None and pending.client != client):
            raise NotPending(server_id)
        response = make_response(
            pending.request, code, reason, to_tag=pending.tag,
            headers=(*headers, self.server), body=body,
        )
        if code >= 200:
            self._finish(server_id)
        try:
            engine.send_response(pending.key, response)
        except TransactionError as exc:
            raise NotPending(f"{server_id}: {exc}") from None

    def client_gone(self, engine: SignallingEngine, client: str, aor: str | None = None) -> None:
        """480 for what `client` has not answered (only under the claim of `aor`, if given)."""
        for server_id, pending in list(self._pending.items()):
            if pending.client == client and aor in (None, pending.aor):
                self._expire(engine, server_id)

    def _finish(self, server_id: str) -> _Pending | None:
        pending = self._pending.pop(server_id, None)
        if pending is not None and pending.timer is not gevent.getcurrent():
            pending.timer.kill(block=False)
        return pending

    def _expire(self, engine: SignallingEngine, server_id: str) -> None:
        pending = self._finish(server_id)
        if pending is None:
            return
        try:
            self._answer(engine, pending.key, pending.request, 480, tag=pending.tag)
        except SIPParseError:
            log.exception("could not answer an expired request")
