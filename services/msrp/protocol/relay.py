"""The client side of RFC 4976 (MSRP relays), sans-IO: AUTH, its digest, Use-Path, Expires.

`RelayAuth` makes the AUTH requests for one relay (the first hop) and reads
their responses: a 401 with a Digest ``WWW-Authenticate`` is answered once
per nonce (RFC 4976 section 5.1: ``uri`` is the relay's URI, the method
AUTH, qop ``auth`` preferred); a non-stale 401 after our answer is a refusal
of the credentials unless they were accepted since (then it is a nonce that
expired, answered once: relays such as Kamailio make a new nonce for every
challenge, so "the same nonce again" cannot be the test), a 423 with ``Min-Expires`` is retried with
that interval, a 200 gives the ``Use-Path`` (our path's URIs before our own,
several hops when the relay says so) and the granted ``Expires``, with the
time to refresh it (`refresh_at`: half-way, at most a minute before the
end). Anything else, a second 401 for a nonce answered, a 200 without
``Use-Path`` are `AuthFailed` with a reason. The caller writes the requests
on the relay's connection, hands every response to `handle_response`, and
calls `refresh` when `refresh_at` comes. No I/O, no clock: `now` is passed in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sipsimple.core.digest import ALGORITHMS, Algorithm, digest_response
from sipsimple.core.errors import SIPParseError
from sipsimple.core.headers import AuthorizationHeader, WWWAuthenticateHeader
from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import format_path, parse_expires
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse
from sipsimple_services.msrp.protocol.uri import MSRPURI

__all__ = ["AuthFailed", "AuthRetry", "AuthSucceeded", "RelayAuth", "RelayCredentials"]

MAX_ATTEMPTS = 4  # AUTH requests per round (challenge, interval, stale nonce): no loop


@dataclass(frozen=True)
class RelayCredentials:
    username: str
    password: str


@dataclass(frozen=True)
class AuthRetry:
    """Send `request` (the same AUTH, answering the challenge or the interval asked)."""

    request: MSRPRequest


@dataclass(frozen=True)
class AuthSucceeded:
    use_path: tuple[MSRPURI, ...]
    expires: int
    refresh_at: float


@dataclass(frozen=True)
class AuthFailed:
    code: int
    reason: str


AuthEvent = AuthRetry | AuthSucceeded | AuthFailed


class RelayAuth:
    def __init__(self, relay: MSRPURI, local_uri: MSRPURI, credentials: RelayCredentials,
                 expires: int | None = None) -> None:
        self.relay = relay
        self.local_uri = local_uri
        self.credentials = credentials
        self.expires = expires  # asked for (None: the relay's default)
        self.use_path: tuple[MSRPURI, ...] = ()
        self._challenge: WWWAuthenticateHeader | None = None
        self._algorithm: Algorithm | None = None
        self._cnonce = secrets.token_hex(8)
        self._nc = 0
        self._answered: str | None = None  # the nonce our last AUTH answered
        self._accepted = False  # a 200 came since our last answer to a challenge
        self._pending: str | None = None  # the transaction id of the AUTH in flight
        self._attempts = 0

    def request(self) -> MSRPRequest:
        """The first AUTH (no credentials until the relay challenges)."""
        self._attempts = 0
        return self._make()

    def refresh(self) -> MSRPRequest:
        """A new AUTH before `refresh_at`, answering the last challenge again."""
        return self.request()

    def handle_response(self, response: MSRPResponse, now: float) -> AuthEvent | None:
        """What the AUTH's response means (None: not the response of our AUTH)."""
        if response.transaction_id != self._pending:
            return None
        self._pending = None
        code = response.code
        if code == 200:
            return self._succeeded(response, now)
        if self._attempts >= MAX_ATTEMPTS:
            return AuthFailed(code, f"the relay still answers {code} after "
                                    f"{MAX_ATTEMPTS} AUTH requests")
        if code == 401:
            return self._challenged(response)
        if code == 423:
            try:
                minimum = parse_expires(response.header("Min-Expires") or "")
            except MSRPParseError:
                return AuthFailed(code, "the relay refused the interval (423) without a "
                                        "valid Min-Expires")
            self.expires = minimum
            return AuthRetry(self._make())
        return AuthFailed(code, f"the relay refused AUTH: {code} {response.comment or ''}"
                          .rstrip())

    # --- helpers ---------------------------------------------------------------------

    def _challenged(self, response: MSRPResponse) -> AuthEvent:
        best: tuple[WWWAuthenticateHeader, Algorithm] | None = None
        for text in response.headers_named("WWW-Authenticate"):
            try:
                header = WWWAuthenticateHeader.parse(text)
            except SIPParseError:
                continue
            algorithm = ALGORITHMS.get((header.algorithm or "MD5").upper())
            if header.scheme.lower() != "digest" or algorithm is None or \
                    header.realm is None or header.nonce is None:
                continue
            if best is None or algorithm.strength > best[1].strength:
                best = (header, algorithm)
        if best is None:
            return AuthFailed(401, "the relay's challenge has no Digest we can answer")
        header, algorithm = best
        if self._answered is not None and not header.stale:
            if not self._accepted:
                return AuthFailed(401, "the relay refused the credentials (wrong username "
                                       "or password)")
            self._accepted = False  # the nonce expired: answered once
        if self._challenge is None or header.nonce != self._challenge.nonce:
            self._nc = 0
        self._challenge, self._algorithm = header, algorithm
        return AuthRetry(self._make())

    def _succeeded(self, response: MSRPResponse, now: float) -> AuthEvent:
        try:
            use_path = response.use_path
            expires = response.expires
        except MSRPParseError as exc:
            return AuthFailed(200, f"the relay's 200 to AUTH is malformed: {exc}")
        if not use_path:
            return AuthFailed(200, "the relay's 200 to AUTH has no Use-Path")
        if expires is None:
            expires = self.expires if self.expires is not None else 0
        if expires <= 0:
            return AuthFailed(200, "the relay's 200 to AUTH grants no time (Expires)")
        self.use_path = use_path
        self._accepted = True
        return AuthSucceeded(use_path, expires, now + max(expires / 2, expires - 60))

    def _make(self) -> MSRPRequest:
        self._attempts += 1
        headers = [("To-Path", str(self.relay)), ("From-Path", format_path((self.local_uri,)))]
        if self._challenge is not None and self._algorithm is not None:
            headers.append(("Authorization", str(self._authorization())))
        if self.expires is not None:
            headers.append(("Expires", str(self.expires)))
        transaction_id = secrets.token_hex(8)
        self._pending = transaction_id
        return MSRPRequest(transaction_id, "AUTH", tuple(headers))

    def _authorization(self) -> AuthorizationHeader:
        challenge, algorithm = self._challenge, self._algorithm
        assert challenge is not None and algorithm is not None
        realm, nonce = challenge.realm or "", challenge.nonce or ""
        qop = "auth" if "auth" in challenge.qop else None
        uri = str(self.relay)
        self._nc += 1
        response = digest_response(
            algorithm, username=self.credentials.username, realm=realm,
            password=self.credentials.password, method="AUTH", uri=uri, nonce=nonce,
            nc=self._nc, cnonce=self._cnonce if qop else "", qop=qop)
        self._answered = nonce
        return AuthorizationHeader.digest(
            username=self.credentials.username, realm=realm, nonce=nonce, uri=uri,
            response=response, algorithm=challenge.algorithm, opaque=challenge.opaque,
            qop=qop, nc=self._nc if qop else None, cnonce=self._cnonce if qop else None)
