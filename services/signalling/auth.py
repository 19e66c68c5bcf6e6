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
  an RFC 2069 answer (no cnonce, no nc).
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

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sipsimple.core.headers import (
    AuthorizationHeader,
    Header,
    ProxyAuthenticateHeader,
    ProxyAuthorizationHeader,
    WWWAuthenticateHeader,
)
from sipsimple_services.signalling.message import SIPResponse

__all__ = [
    "ALGORITHMS",
    "MAX_STALE",
    "Algorithm",
    "AuthFailed",
    "AuthRetry",
    "AuthSession",
    "Challenge",
    "Credentials",
    "digest_response",
    "parse_challenges",
]

MAX_STALE = 3


@dataclass(frozen=True)
class Algorithm:
    """A Digest algorithm: ``hash_name`` for hashlib, ``session`` for ``-sess``."""

    name: str
    hash_name: str
    session: bool
    strength: int

    def hash(self, text: str) -> str:
        return hashlib.new(self.hash_name, text.encode("utf-8")).hexdigest()

    def hash_bytes(self, data: bytes) -> str:
        return hashlib.new(self.hash_name, data).hexdigest()


def _algorithms() -> dict[str, Algorithm]:
    table: dict[str, Algorithm] = {}
    for name, hash_name, strength in (
        ("MD5", "md5", 1),
        ("SHA-256", "sha256", 2),
        ("SHA-512-256", "sha512_256", 3),
    ):
        try:
            hashlib.new(hash_name)
        except ValueError:  # OpenSSL builds without SHA-512/256
            continue
        table[name] = Algorithm(name, hash_name, False, strength)
        table[f"{name}-SESS"] = Algorithm(f"{name}-sess", hash_name, True, strength)
    return table


ALGORITHMS: dict[str, Algorithm] = _algorithms()
"""Supported algorithms by upper-case name."""


@dataclass(frozen=True)
class Credentials:
    """A username and password, for any realm or, with ``realm``, only that one."""

    username: str
    password: str
    realm: str | None = None

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


def digest_response(
    algorithm: Algorithm,
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: int = 0,
    cnonce: str = "",
    qop: str | None = None,
    body: bytes = b"",
    ha1: str | None = None,
) -> str:
    """The ``response`` value (RFC 7616 section 3.4.1; RFC 2069 when ``qop`` is None).

    ``ha1`` short-circuits the A1 hash (the cached session key of ``-sess``).
    """
    h = algorithm.hash
    if ha1 is None:
        ha1 = h(f"{username}:{realm}:{password}")
        if algorithm.session:
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 = f"{a2}:{algorithm.hash_bytes(body)}"
    ha2 = h(a2)
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


def _default_cnonce() -> str:
    return secrets.token_hex(16)


class _RealmState:
    """What we answer one realm with: its challenge, credentials and counters."""

    def __init__(
        self, challenge: Challenge, algorithm: Algorithm, credentials: Credentials, cnonce: str
    ) -> None:
        self.challenge = challenge
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


def _strongest(challenges: Iterable[Challenge]) -> tuple[Challenge, Algorithm] | None:
    best: tuple[Challenge, Algorithm] | None = None
    for challenge in challenges:
        algorithm = challenge.supported
        if algorithm is not None and (best is None or algorithm.strength > best[1].strength):
            best = (challenge, algorithm)
    return best


class AuthSession:
    """The Digest state of one dialog or registration (see the module docstring)."""

    def __init__(
        self,
        credentials: Credentials | Sequence[Credentials],
        *,
        cnonce: Callable[[], str] = _default_cnonce,
    ) -> None:
        self.credentials: tuple[Credentials, ...] = (
            (credentials,) if isinstance(credentials, Credentials) else tuple(credentials)
        )
        self._cnonce = cnonce
        self._realms: dict[tuple[bool, str], _RealmState] = {}

    @property
    def realms(self) -> list[tuple[bool, str]]:
        """(proxy, realm) of every realm we hold a challenge for."""
        return list(self._realms)

    def authorize(self, method: str, uri: object, body: bytes = b"") -> tuple[Header, ...]:
        """Authorization/Proxy-Authorization headers for a request (empty before any challenge).

        Each call counts as one answer sent (nc increments).
        """
        text = str(uri)
        return tuple(state.header(method, text, body) for state in self._realms.values())

    def handle_response(self, response: SIPResponse) -> AuthRetry | AuthFailed | None:
        """Take a final response to a request this session authorized.

        401/407 give `AuthRetry` or `AuthFailed`; anything else final returns
        None and marks the credentials in use as accepted.
        """
        if response.code not in (401, 407):
            if response.code >= 200:
                for state in self._realms.values():
                    state.confirmed = True
                    state.stale_count = 0
            return None
        return self.handle_challenge(response)

    def handle_challenge(self, response: SIPResponse) -> AuthRetry | AuthFailed:
        groups: dict[tuple[bool, str], list[Challenge]] = {}
        for challenge in parse_challenges(response):
            groups.setdefault(challenge.key, []).append(challenge)
        if not groups:
            return AuthFailed(f"{response.code} without a usable Digest challenge")
        updates: dict[tuple[bool, str], _RealmState] = {}
        any_stale = False
        for key, challenges in groups.items():
            realm = key[1]
            best = _strongest(challenges)
            if best is None:
                offered = ", ".join(sorted({c.algorithm or "MD5" for c in challenges}))
                return AuthFailed(f"unsupported digest algorithm {offered} for realm {realm!r}")
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
            credentials = next((c for c in self.credentials if c.matches(realm)), None)
            if credentials is None:
                return AuthFailed(f"no credentials for realm {realm!r}")
            state = _RealmState(challenge, algorithm, credentials, self._cnonce())
            state.stale_count = stale_count
            updates[key] = state
        # Only commit once every realm can be answered: a failure leaves the cache as it was.
        self._realms.update(updates)
        return AuthRetry(tuple(key[1] for key in updates), any_stale)

    def forget(self) -> None:
        """Drop every cached challenge (e.g. when the account's password changes)."""
        self._realms.clear()
