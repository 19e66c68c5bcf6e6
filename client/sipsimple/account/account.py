"""Account: AccountSettings plus identity helpers and registration state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sipsimple.configuration.account import AccountSettings
from sipsimple.core import SIPURI

if TYPE_CHECKING:
    from sipsimple.core import Route

    from .registration import AccountRegistrar

__all__ = ["Account", "Credentials"]


@dataclass(frozen=True)
class Credentials:
    """Digest credentials; ``username`` defaults to the user part of the account id.

    Without a ``realm`` the signalling service answers only the account's
    domain and the realms its registrar authenticated it with.
    """

    username: str
    password: str = field(repr=False)  # never in a log line or a traceback
    realm: str | None = None
    allow_md5: bool = True
    allow_qopless: bool = True

    def to_bus(self) -> dict[str, Any]:
        data: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.realm is not None:
            data["realm"] = self.realm
        if not self.allow_md5:
            data["allow_md5"] = False
        if not self.allow_qopless:
            data["allow_qopless"] = False
        return data


class Account(AccountSettings):
    """A SIP account (id = ``user@domain``).

    ``Account(id)`` returns the live account for that id (creating an unsaved one
    if absent); ``save()`` stores it, which makes the AccountManager add it
    (``SIPAccountManagerDidAddAccount``); ``delete()`` removes it.
    ``SIPAccountDidActivate`` (sender: the account) says the signalling service now
    routes the account's incoming calls to this client, ``SIPAccountDidDeactivate``
    that it no longer does (disabled, deleted, stopped).
    The ConfigurationManager must be running.
    """

    _registrar: AccountRegistrar | None

    def __init__(self, id: str | None = None) -> None:
        self._registrar = None
        super().__init__(id)

    @property
    def user(self) -> str:
        return self.id.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.id.rpartition("@")[2]

    @property
    def uri(self) -> SIPURI:
        return SIPURI(host=self.domain, user=self.user)

    @property
    def outbound_proxy_uri(self) -> SIPURI | None:
        """The `sip.outbound_proxy` setting as a URI to look up (RFC 3263), if set."""
        proxy = self.sip.outbound_proxy
        if proxy is None:
            return None
        return SIPURI(host=proxy.host, port=proxy.port, parameters={"transport": proxy.transport})

    @property
    def credentials(self) -> Credentials:
        auth = self.auth
        return Credentials(auth.username or self.user, auth.password or "", auth.realm or None,
                           allow_md5=auth.allow_md5, allow_qopless=auth.allow_qopless)

    @property
    def registered(self) -> bool:
        return self._registrar is not None and self._registrar.registered

    @property
    def registrar(self) -> Route | None:
        """The route of the current successful registration, if any."""
        return None if self._registrar is None else self._registrar.registrar

    @property
    def contact(self) -> str | None:
        """The Contact the registrar accepted for us, if registered."""
        return None if self._registrar is None else self._registrar.contact

    def __repr__(self) -> str:
        return f"<Account {self.id!r}>"
