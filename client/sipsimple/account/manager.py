"""AccountManager: the singleton that loads, tracks and registers accounts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from sipsimple.configuration import ConfigurationManager, ObjectNotFoundError
from sipsimple.configuration.account import AccountSettings
from sipsimple.configuration.errors import DuplicateIDError
from sipsimple.messages import MessageManager
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.threading import Worker

from .account import Account
from .registration import AccountRegistrar

__all__ = ["AccountManager"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0  # bound on unregistering everything in stop()

_REGISTRATION_EVENTS = (
    "signalling.registration_succeeded",
    "signalling.registration_failed",
    "signalling.registration_ended",
)
# Settings whose change needs a new registration.
_REGISTRATION_KEYS = ("enabled", "auth.", "sip.")


class AccountManager:
    """Process-wide singleton: ``AccountManager()`` always returns the same object.

    ``start()`` loads the accounts of the configuration (the ConfigurationManager
    must run) and registers the enabled ones; ``stop()`` unregisters them and
    releases their claims on the signalling service, within ``STOP_TIMEOUT``; the
    `MessageManager` (incoming MESSAGEs for the claimed accounts) runs with it.
    Notifications (sender: the manager): ``SIPAccountManagerDidAddAccount(account)``,
    ``SIPAccountManagerDidRemoveAccount(account)``,
    ``SIPAccountManagerDidChangeDefaultAccount(old_account, account)``.
    """

    _instance: AccountManager | None = None
    _instance_lock = threading.Lock()

    _lock: threading.RLock
    _accounts: dict[str, Account]
    _registrars: dict[str, AccountRegistrar]
    _retiring: list[AccountRegistrar]  # stopped, maybe still waiting for registration_ended
    _worker: Worker | None
    _default: Account | None
    _started: bool

    def __new__(cls) -> AccountManager:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._lock = threading.RLock()
                instance._accounts = {}
                instance._registrars = {}
                instance._retiring = []
                instance._worker = None
                instance._default = None
                instance._started = False
                cls._instance = instance
            return cls._instance

    # --- life cycle -------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        configuration = ConfigurationManager()
        with self._lock:
            if self._started:
                return
            if not configuration.running:
                raise RuntimeError("the ConfigurationManager must be started first")
            try:
                names = configuration.get_names("Accounts")
            except ObjectNotFoundError:
                names = []
            self._accounts = {}
            for name in names:
                try:
                    account = Account(name)
                except DuplicateIDError:
                    log.error("account %s is in use as a plain AccountSettings; skipped", name)
                    continue
                except Exception:
                    log.exception("account %s cannot be loaded; skipped", name)
                    continue
                self._accounts[account.id] = account
            self._worker = Worker("sipsimple-accounts")
            self._started = True
            center = NotificationCenter()
            center.add_observer(self, name="CFGSettingsObjectWasCreated")
            center.add_observer(self, name="CFGSettingsObjectDidChange")
            center.add_observer(self, name="CFGSettingsObjectWasDeleted")
            for name in _REGISTRATION_EVENTS:
                center.add_observer(self, name=name)
            center.add_observer(self, name="ServiceDidRestart")
            center.add_observer(self, name="NetworkConditionsDidChange")
            self._default = self._effective_default()
            # Whoever claims accounts answers their MESSAGEs (else 480 after 20 s).
            MessageManager().start()
            for account in self._accounts.values():
                self._attach(account)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Unregister every account and release its claim; returns within about `timeout`."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            worker = self._worker  # kept until the end: registration events still arrive
            registrars = list(self._registrars.values())
            self._registrars = {}
            self._retiring.extend(registrars)
            center = NotificationCenter()
            for name in ("CFGSettingsObjectWasCreated", "CFGSettingsObjectDidChange",
                         "CFGSettingsObjectWasDeleted", "ServiceDidRestart",
                         "NetworkConditionsDidChange"):
                center.discard_observer(self, name=name)
        assert worker is not None
        deadline = time.monotonic() + timeout
        for registrar in registrars:
            worker.submit(registrar.stop)
        # wait (bounded) for the registrars' registration_ended events
        done = threading.Event()

        def check() -> None:
            if not any(r.busy for r in registrars) or time.monotonic() >= deadline:
                done.set()
            else:
                threading.Timer(0.05, lambda: worker.submit(check)).start()

        worker.submit(check)
        done.wait(max(0.0, deadline - time.monotonic()))
        center = NotificationCenter()
        for name in _REGISTRATION_EVENTS:
            center.discard_observer(self, name=name)
        with self._lock:
            self._worker = None
            self._retiring = []
        worker.stop(max(0.1, deadline - time.monotonic()))
        MessageManager().stop()
        for registrar in registrars:
            registrar.account._registrar = None

    # --- accounts ---------------------------------------------------------------

    def has_account(self, id: str) -> bool:
        return self._find(id) is not None

    def get_account(self, id: str) -> Account:
        account = self._find(id)
        if account is None:
            raise KeyError(id)
        return account

    def iter_accounts(self) -> Iterator[Account]:
        with self._lock:
            return iter(list(self._accounts.values()))

    def _find(self, id: str) -> Account | None:
        key = id[4:] if id.lower().startswith("sip:") else id
        with self._lock:
            return self._accounts.get(key)

    @property
    def default_account(self) -> Account | None:
        """SIPSimpleSettings.default_account if it is an enabled account, else the first enabled."""
        with self._lock:
            return self._effective_default()

    @default_account.setter
    def default_account(self, account: Account | None) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        if account is not None and self._find(account.id) is not account:
            raise ValueError(f"{account!r} is not a saved account of the AccountManager")
        settings = SIPSimpleSettings()
        settings.default_account = None if account is None else account.id
        settings.save()  # posts CFGSettingsObjectDidChange, which updates the default
        self._check_default()

    def _effective_default(self) -> Account | None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        chosen = SIPSimpleSettings().default_account
        account = self._accounts.get(str(chosen)) if chosen else None
        if account is not None and account.enabled:
            return account
        return next((a for a in self._accounts.values() if a.enabled), None)

    def _check_default(self) -> None:
        with self._lock:
            old, new = self._default, self._effective_default()
            if old is new:
                return
            self._default = new
        self._post("SIPAccountManagerDidChangeDefaultAccount", old_account=old, account=new)

    # --- registration -----------------------------------------------------------

    def _attach(self, account: Account) -> None:
        registrar = AccountRegistrar(account, self._submit)
        account._registrar = registrar
        self._registrars[account.id] = registrar
        if registrar.claim_wanted:
            self._submit(registrar.restart)

    def _submit(self, task: Any) -> None:
        worker = self._worker
        if worker is not None:
            worker.submit(task)

    # --- notifications ----------------------------------------------------------

    def handle_notification(self, notification: Notification) -> None:
        name, sender = notification.name, notification.sender
        if name in _REGISTRATION_EVENTS:
            self._on_registration_event(notification)
        elif name == "ServiceDidRestart":
            if getattr(notification.data, "service", None) == "signalling":
                with self._lock:
                    registrars = list(self._registrars.values())
                for registrar in registrars:
                    self._submit(registrar.service_restarted)
        elif name == "NetworkConditionsDidChange":
            # as the original SDK: registered accounts register again, looked up
            # again and with the Contact of the address the host has now
            with self._lock:
                registrars = [r for r in self._registrars.values() if r.wanted]
            for registrar in registrars:
                self._submit(registrar.restart)
        elif isinstance(sender, Account):
            if name == "CFGSettingsObjectWasCreated":
                self._on_added(sender)
            elif name == "CFGSettingsObjectWasDeleted":
                self._on_removed(sender)
            elif name == "CFGSettingsObjectDidChange":
                self._on_changed(sender, notification.data.modified)
        elif isinstance(sender, AccountSettings):
            log.warning("%r was changed outside the AccountManager; restart to apply", sender)
        elif name == "CFGSettingsObjectDidChange" and type(sender).__name__ == "SIPSimpleSettings":
            modified = notification.data.modified
            if "default_account" in modified:
                self._check_default()
            if any(key.startswith("sip.") for key in modified):
                with self._lock:
                    registrars = list(self._registrars.values())
                for registrar in registrars:
                    self._submit(registrar.restart)

    def _on_registration_event(self, notification: Notification) -> None:
        rid = getattr(notification.data, "registration_id", None)

        def dispatch() -> None:
            with self._lock:
                registrars = [*self._registrars.values(), *self._retiring]
            for registrar in registrars:
                if rid in registrar.ids:
                    registrar.handle_event(notification.name, notification.data)
            with self._lock:
                if self._started:
                    self._retiring = [r for r in self._retiring if r.busy or not r.stopped]

        self._submit(dispatch)

    def _on_added(self, account: Account) -> None:
        with self._lock:
            if not self._started or account.id in self._accounts:
                return
            self._accounts[account.id] = account
            self._attach(account)
        self._post("SIPAccountManagerDidAddAccount", account=account)
        self._check_default()

    def _on_removed(self, account: Account) -> None:
        with self._lock:
            if self._accounts.get(account.id) is not account:
                return
            del self._accounts[account.id]
            registrar = self._registrars.pop(account.id, None)
            if registrar is not None:
                self._retiring.append(registrar)
                self._submit(registrar.stop)
        self._post("SIPAccountManagerDidRemoveAccount", account=account)
        self._check_default()

    def _on_changed(self, account: Account, modified: dict[str, Any]) -> None:
        with self._lock:
            registrar = self._registrars.get(account.id)
        if registrar is not None and any(
            key == prefix or key.startswith(prefix)
            for key in modified for prefix in _REGISTRATION_KEYS
        ):
            self._submit(registrar.restart)
        if "enabled" in modified:
            self._check_default()

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, self, NotificationData(**data))
