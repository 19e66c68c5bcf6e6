"""Which bus client owns which account (AOR), and which account a request is for.

Pure bookkeeping. An account is keyed by the user and the lower-cased host
of its address of record (the port and parameters of an AOR do not name a
different account). A request's target is the user@host of its To URI, else
of its Request-URI (a request to our contact address, sip:alice@192.0.2.1:5060,
still carries the AOR in To). Several clients may claim one AOR; the latest
claim is the one asked.

A claim for any user (``any_user``: `sipsimple answer --any`) takes the new
INVITEs no account claim matches: calls straight to this address (sip:x@ip)
as softphones take them. It is asked last, the latest such claim first.
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
    any_user: bool = False  # the client also takes INVITEs for users nobody claimed


class AccountRegistry:
    def __init__(self) -> None:
        self._claims: dict[AccountKey, dict[str, Claim]] = {}
        self._any_user: dict[str, Claim] = {}  # by client: one catch-all claim each

    def __len__(self) -> int:
        return sum(len(claims) for claims in self._claims.values()) + len(self._any_user)

    def claim(self, aor: SIPURI, client: str, *, options: bool = False,
              any_user: bool = False) -> Claim:
        name = str(SIPURI(host=aor.host.lower(), user=aor.user, secure=aor.secure))
        if any_user:
            self._any_user.pop(client, None)  # the latest is asked first
            claim = self._any_user[client] = Claim(name, client, options, any_user=True)
            return claim
        claims = self._claims.setdefault(account_key(aor), {})
        claims.pop(client, None)  # re-claiming moves the client to the end: it is asked first
        claim = claims[client] = Claim(name, client, options)
        return claim

    def release(self, aor: SIPURI, client: str, *, any_user: bool = False) -> Claim | None:
        if any_user:
            return self._any_user.pop(client, None)
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
        catch_all = self._any_user.pop(client, None)
        if catch_all is not None:
            released.append(catch_all)
        return released

    def claims(self) -> list[Claim]:
        """Every claim, accounts in the order first claimed, the catch-all ones last."""
        return [claim for claims in self._claims.values() for claim in claims.values()] + list(
            self._any_user.values())

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
        if request.method == "INVITE" and self._any_user and (to is None or to.tag is None):
            return next(reversed(self._any_user.values()))
        return None
