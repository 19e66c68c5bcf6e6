"""Digest authentication for requests we send (RFC 2617, RFC 7616, RFC 8760), sans-IO.

`AuthSession` belongs to one dialog or registration. The transaction layer
asks it for the credentials headers of every request it sends
(`authorize`), and hands it every final response (`handle_response`): a
401/407 yields `AuthRetry` (send the request again, with a new CSeq) or
`AuthFailed` (report the challenge response as final); other final
responses confirm the credentials in use.

Decisions worth knowing:

- Challenges are grouped per (WWW or Proxy, realm); each group is answered
  once, with the strongest algorithm offered (SHA-512-256 when hashlib has
  it, then SHA-256, then MD5; a ``-sess`` variant ranks with its hash).
- qop ``auth`` is preferred over ``auth-int``; a challenge without qop gets
  an RFC 2069 answer (no cnonce, no nc) unless the credentials refuse it
  (``allow_qopless``); ``allow_md5`` False refuses MD5 and MD5-sess.
- Realm binding: credentials with a ``realm`` answer only that realm; without
  one, the session's ``realms`` (the caller's default: the account's domain
  and the realms its registrar used; None answers any realm, as a registration
  does towards its registrar). A challenge for another realm is refused: a
  proxy or the callee must not get an answer it could attack offline.
- Dialog scope: a request inside a dialog (``in_dialog``) carries credentials
  only for the realms that challenged a request of that dialog, never those
  cached from the dialog-creating request (its proxies' realms would reach
  the remote target).
- Every refusal is logged with its reason (and returned as `AuthFailed`).
- One cnonce per nonce: ``-sess`` needs it fixed for its session key, and
  for the others nc already makes each answer unique. ``nc`` counts the
  answers sent with a nonce, across requests, starting at 1.
- Credential failure: a non-stale challenge for a realm we answered means
  the server rejected us when it repeats the nonce, or when the credentials
  were never accepted since the last challenge. A new nonce after the
  credentials were accepted is a silent nonce expiry, answered once.
  ``stale=true`` always gets a retry, at most `MAX_STALE` in a row.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass

from sipsimple.core.digest import ALGORITHMS, Algorithm, digest_response
from sipsimple.core.headers import (
    AuthorizationHeader,
    Header,
    ProxyAuthenticateHeader,
    ProxyAuthorizationHeader,
    WWWAuthenticateHeader,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse

__all__ = [
    "ALGORITHMS",
    "MAX_STALE",
    "Algorithm",
    "AuthFailed",
    "AuthRetry",
    "AuthSession",
    "Challenge",
    "Credentials",
    "RealmBook",
    "digest_response",
    "in_dialog",
    "parse_challenges",
]

MAX_STALE = 3

log = logging.getLogger("sipsimple_services.signalling.sip.auth")


@dataclass(frozen=True)
class Credentials:
    """A username and password; with ``realm``, for that realm only.

    Without a realm, the `AuthSession`'s ``realms`` decide. ``allow_md5`` and
    ``allow_qopless`` False refuse MD5 (and MD5-sess) and RFC 2069 challenges.
    """

    username: str
    password: str
    realm: str | None = None
    allow_md5: bool = True
    allow_qopless: bool = True

    def matches(self, realm: str) -> bool:
        return self.realm is None or self.realm == realm


@dataclass(frozen=True)
class Challenge:
    """One Digest challenge read from a WWW-Authenticate or Proxy-Authenticate header.

    ``algorithm`` is the name as the server wrote it (None: MD5 by default).
    """

    proxy: bool
    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def supported(self) -> Algorithm | None:
        """Our algorithm for it; None when unknown, or ``-sess`` without qop (no cnonce)."""
        algorithm = ALGORITHMS.get((self.algorithm or "MD5").upper())
        if algorithm is not None and algorithm.session and not self.qop:
            return None
        return algorithm

    @property
    def key(self) -> tuple[bool, str]:
        return (self.proxy, self.realm)


@dataclass(frozen=True)
class AuthRetry:
    """Send the request again with `AuthSession.authorize` headers."""

    realms: tuple[str, ...]
    stale: bool


@dataclass(frozen=True)
class AuthFailed:
    """The challenge cannot be answered (or our answer was refused)."""

    reason: str


def in_dialog(request: SIPRequest) -> bool:
    """Whether `request` belongs to a dialog (its To has a tag, RFC 3261 12.2.1.1)."""
    to = request.to
    return to is not None and to.tag is not None


def parse_challenges(response: SIPResponse) -> list[Challenge]:
    """The Digest challenges of a 401/407 (other schemes and malformed ones skipped)."""
    challenges: list[Challenge] = []
    for header in response.headers:
        if not isinstance(header, WWWAuthenticateHeader | ProxyAuthenticateHeader):
            continue
        if header.scheme.lower() != "digest":
            continue
        realm, nonce = header.realm, header.nonce
        if realm is None or nonce is None:
            continue
        challenges.append(
            Challenge(
                proxy=isinstance(header, ProxyAuthenticateHeader),
                realm=realm,
                nonce=nonce,
                algorithm=header.algorithm,
                qop=tuple(q.lower() for q in header.qop),
                opaque=header.opaque,
                stale=header.stale,
            )
        )
    return challenges


def _default_cnonce() -> str:
    return secrets.token_hex(16)


class _RealmState:
    """What we answer one realm with: its challenge, credentials and counters."""

    def __init__(
        self, challenge: Challenge, algorithm: Algorithm, credentials: Credentials, cnonce: str,
        in_dialog: bool = False,
    ) -> None:
        self.challenge = challenge
        self.in_dialog = in_dialog  # a request of the dialog was challenged for this realm
        self.algorithm = algorithm
        self.credentials = credentials
        self.cnonce = cnonce
        self.nc = 0
        self.stale_count = 0
        # Some final response other than 401/407 arrived since this challenge.
        self.confirmed = False
        base = algorithm.hash(f"{credentials.username}:{challenge.realm}:{credentials.password}")
        if algorithm.session:
            base = algorithm.hash(f"{base}:{challenge.nonce}:{cnonce}")
        self.ha1 = base  # cached: the per-request work is only A2 and the response

    @property
    def qop(self) -> str | None:
        offered = self.challenge.qop
        if "auth" in offered:
            return "auth"
        if "auth-int" in offered:
            return "auth-int"
        return None

    def header(self, method: str, uri: str, body: bytes) -> Header:
        challenge = self.challenge
        qop = self.qop
        nc = cnonce = None
        if qop is not None:
            self.nc += 1
            nc, cnonce = self.nc, self.cnonce
        response = digest_response(
            self.algorithm,
            username=self.credentials.username,
            realm=challenge.realm,
            password=self.credentials.password,
            method=method,
            uri=uri,
            nonce=challenge.nonce,
            nc=nc or 0,
            cnonce=cnonce or "",
            qop=qop,
            body=body,
            ha1=self.ha1,
        )
        kind = ProxyAuthorizationHeader if challenge.proxy else AuthorizationHeader
        return kind.digest(
            username=self.credentials.username,
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            cnonce=cnonce,
            opaque=challenge.opaque,
            qop=qop,
            nc=nc,
        )


def _allowed(credentials: Credentials, challenge: Challenge, algorithm: Algorithm) -> bool:
    if not credentials.allow_md5 and algorithm.hash_name == "md5":
        return False
    return credentials.allow_qopless or bool(challenge.qop)


def _strongest(
    challenges: Iterable[Challenge], credentials: Credentials
) -> tuple[Challenge, Algorithm] | None:
    best: tuple[Challenge, Algorithm] | None = None
    for challenge in challenges:
        algorithm = challenge.supported
        if algorithm is None or not _allowed(credentials, challenge, algorithm):
            continue
        if best is None or algorithm.strength > best[1].strength:
            best = (challenge, algorithm)
    return best


def _refusal(challenges: Sequence[Challenge], credentials: Credentials) -> str:
    """Why none of a realm's challenges can be answered with `credentials`."""
    realm = challenges[0].realm
    offered = ", ".join(sorted({c.algorithm or "MD5" for c in challenges}))
    known = [a for a in (c.supported for c in challenges) if a is not None]
    if not known:
        return f"unsupported digest algorithm {offered} for realm {realm!r}"
    if not credentials.allow_md5 and all(a.hash_name == "md5" for a in known):
        return f"MD5 refused by the account's settings (realm {realm!r} offers {offered})"
    return f"challenge without qop (RFC 2069) refused by the account's settings (realm {realm!r})"


class AuthSession:
    """The Digest state of one dialog or registration (see the module docstring)."""

    def __init__(
        self,
        credentials: Credentials | Sequence[Credentials],
        *,
        realms: Set[str] | None = None,
        learned: set[str] | None = None,
        cnonce: Callable[[], str] = _default_cnonce,
    ) -> None:
        """``realms``: those that credentials without a realm answer (None: any; the
        set is read at each challenge, so it may grow). ``learned`` gets every realm
        whose answer a final non-401/407 response accepted (a registrar's realm)."""
        self.credentials: tuple[Credentials, ...] = (
            (credentials,) if isinstance(credentials, Credentials) else tuple(credentials)
        )
        self.allowed_realms = realms
        self.learned = learned
        self._cnonce = cnonce
        self._realms: dict[tuple[bool, str], _RealmState] = {}

    @property
    def realms(self) -> list[tuple[bool, str]]:
        """(proxy, realm) of every realm we hold a challenge for."""
        return list(self._realms)

    def authorize(
        self, method: str, uri: object, body: bytes = b"", *, in_dialog: bool = False
    ) -> tuple[Header, ...]:
        """Authorization/Proxy-Authorization headers for a request (empty before any challenge).

        ``in_dialog``: the request belongs to a dialog; only realms that challenged
        a request of the dialog are answered. Each call counts as one answer sent
        (nc increments).
        """
        text = str(uri)
        return tuple(
            state.header(method, text, body) for state in self._realms.values()
            if state.in_dialog or not in_dialog
        )

    def handle_response(
        self, response: SIPResponse, *, in_dialog: bool = False
    ) -> AuthRetry | AuthFailed | None:
        """Take a final response to a request this session authorized.

        401/407 give `AuthRetry` or `AuthFailed`; anything else final returns
        None and marks the credentials in use as accepted.
        """
        if response.code not in (401, 407):
            if response.code >= 200:
                for key, state in self._realms.items():
                    state.confirmed = True
                    state.stale_count = 0
                    if self.learned is not None and 200 <= response.code < 300:
                        self.learned.add(key[1])
            return None
        return self.handle_challenge(response, in_dialog=in_dialog)

    def _credentials_for(self, realm: str) -> Credentials | None:
        for credentials in self.credentials:
            if credentials.realm is not None:
                if credentials.realm == realm:
                    return credentials
            elif self.allowed_realms is None or realm in self.allowed_realms or (
                realm.lower() in self.allowed_realms  # a domain name as realm: any case
            ):
                return credentials
        return None

    def handle_challenge(
        self, response: SIPResponse, *, in_dialog: bool = False
    ) -> AuthRetry | AuthFailed:
        outcome = self._challenge(response, in_dialog)
        if isinstance(outcome, AuthFailed):
            log.warning("not answering the %d challenge: %s", response.code, outcome.reason)
        return outcome

    def _challenge(self, response: SIPResponse, in_dialog: bool) -> AuthRetry | AuthFailed:
        groups: dict[tuple[bool, str], list[Challenge]] = {}
        for challenge in parse_challenges(response):
            groups.setdefault(challenge.key, []).append(challenge)
        if not groups:
            return AuthFailed(f"{response.code} without a usable Digest challenge")
        updates: dict[tuple[bool, str], _RealmState] = {}
        any_stale = False
        for key, challenges in groups.items():
            realm = key[1]
            credentials = self._credentials_for(realm)
            if credentials is None:
                bound = sorted(
                    {c.realm for c in self.credentials if c.realm is not None}
                    | set(self.allowed_realms or ())
                )
                return AuthFailed(
                    f"realm {realm!r} is not the account's"
                    f" (credentials bound to {', '.join(map(repr, bound)) or 'no realm'})"
                )
            best = _strongest(challenges, credentials)
            if best is None:
                return AuthFailed(_refusal(challenges, credentials))
            challenge, algorithm = best
            previous = self._realms.get(key)
            stale_count = 0
            if previous is not None:
                if challenge.stale:
                    stale_count = previous.stale_count + 1
                    if stale_count > MAX_STALE:
                        return AuthFailed(
                            f"authentication failed for realm {realm!r}: nonce stale again"
                        )
                    any_stale = True
                elif challenge.nonce == previous.challenge.nonce or not previous.confirmed:
                    return AuthFailed(
                        f"authentication failed for realm {realm!r}: credentials refused"
                    )
            state = _RealmState(
                challenge, algorithm, credentials, self._cnonce(),
                in_dialog or (previous is not None and previous.in_dialog),
            )
            state.stale_count = stale_count
            updates[key] = state
        # Only commit once every realm can be answered: a failure leaves the cache as it was.
        self._realms.update(updates)
        return AuthRetry(tuple(key[1] for key in updates), any_stale)

    def forget(self) -> None:
        """Drop every cached challenge (e.g. when the account's password changes)."""
        self._realms.clear()


class RealmBook:
    """Per account (``user@domain``): the realms its credentials answer by default.

    That is the account's domain and every realm its registrar authenticated
    it with; credentials with a realm of their own ignore the book.
    """

    def __init__(self) -> None:
        self._realms: dict[tuple[str, str], set[str]] = {}

    def realms(self, user: str | None, domain: str) -> set[str]:
        """The live set for the account (it grows as registrations succeed)."""
        return self._realms.setdefault((user or "", domain.lower()), {domain.lower()})

    def session(
        self, credentials: Credentials | None, user: str | None, domain: str, *,
        registration: bool = False,
    ) -> AuthSession | None:
        """An `AuthSession` for a request of the account (None without credentials).

        A registration answers its registrar in any realm and teaches the book
        the realms that were accepted; other requests answer the book's realms.
        """
        if credentials is None:
            return None
        realms = self.realms(user, domain)
        if registration:
            return AuthSession(credentials, realms=None, learned=realms)
        return AuthSession(credentials, realms=realms)
