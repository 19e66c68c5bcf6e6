"""Which bus client owns which account (AOR), and which account a request is for.

Pure bookkeeping. An account is keyed by the user and the lower-cased host
of its address of record (the port and parameters of an AOR do not name a
different account). A request's target is the user@host of its To URI, else
of its Request-URI (a request to our contact address, sip:alice@192.0.2.1:5060,
still carries the AOR in To). Several clients may claim one AOR; the latest
claim is the one asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipsimple.core import SIPURI
from sipsimple_services.signalling.sip.message.values import SIPRequest

__all__ = ["AccountRegistry", "Claim", "account_key"]

AccountKey = tuple[str | None, str]


def account_key(uri: SIPURI) -> AccountKey:
    return (uri.user, uri.host.lower())


@dataclass(frozen=True)
class Claim:
    aor: str
    client: str
    options: bool = False  # the client answers OPTIONS for this account itself


class AccountRegistry:
    def __init__(self) -> None:
        self._claims: dict[AccountKey, dict[str, Claim]] = {}

    def __len__(self) -> int:
        return sum(len(claims) for claims in self._claims.values())

    def claim(self, aor: SIPURI, client: str, *, options: bool = False) -> Claim:
        claims = self._claims.setdefault(account_key(aor), {})
        claims.pop(client, None)  # re-claiming moves the client to the end: it is asked first
        name = str(SIPURI(host=aor.host.lower(), user=aor.user, secure=aor.secure))
        claim = claims[client] = Claim(name, client, options)
        return claim

    def release(self, aor: SIPURI, client: str) -> Claim | None:
        key = account_key(aor)
        claims = self._claims.get(key, {})
        found = claims.pop(client, None)
        if not claims:
            self._claims.pop(key, None)
        return found

    def release_client(self, client: str) -> list[Claim]:
        released: list[Claim] = []
        for key in list(self._claims):
            claim = self._claims[key].pop(client, None)
            if claim is not None:
                released.append(claim)
            if not self._claims[key]:
                del self._claims[key]
        return released

    def claims(self) -> list[Claim]:
        """Every claim, accounts in the order first claimed."""
        return [claim for claims in self._claims.values() for claim in claims.values()]

    def owner(self, uri: SIPURI) -> Claim | None:
        claims = self._claims.get(account_key(uri))
        return next(reversed(claims.values())) if claims else None

    def match(self, request: SIPRequest) -> Claim | None:
        """The claim for the account `request` is addressed to, if any."""
        to = request.to
        for uri in (to.uri if to is not None else None, request.uri):
            if isinstance(uri, SIPURI):
                claim = self.owner(uri)
                if claim is not None:
                    return claim
        return None
