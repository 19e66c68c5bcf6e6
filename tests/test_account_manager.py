"""AccountManager and Account over a MemoryBackend configuration (no services)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.notifications import Recorder

from sipsimple.account import Account, AccountManager
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.account import AccountSettings
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.configuration.settings import SIPSimpleSettings
from sipsimple.core import SIPURI

NAMES = ("SIPAccountManagerDidAddAccount", "SIPAccountManagerDidRemoveAccount",
         "SIPAccountManagerDidChangeDefaultAccount")


def make(id: str, enabled: bool = True) -> Account:
    account = Account(id)
    account.enabled = enabled
    account.sip.register = False  # no signalling service here
    account.save()
    return account


@pytest.fixture
def backend() -> Iterator[MemoryBackend]:
    backend = MemoryBackend()
    ConfigurationManager().start(backend)
    yield backend
    AccountManager().stop()
    ConfigurationManager().stop()


@pytest.fixture
def manager(backend: MemoryBackend) -> AccountManager:
    manager = AccountManager()
    manager.start()
    return manager


@pytest.fixture
def events() -> Iterator[Recorder]:
    with Recorder(*NAMES, sender=AccountManager()) as recorder:
        yield recorder


def test_singleton() -> None:
    assert AccountManager() is AccountManager()


def test_start_needs_configuration() -> None:
    assert not ConfigurationManager().running
    with pytest.raises(RuntimeError):
        AccountManager().start()


def test_loads_stored_accounts(backend: MemoryBackend) -> None:
    make("alice@example.com")
    make("bob@example.com", enabled=False)
    manager = AccountManager()
    manager.start()
    assert {a.id for a in manager.iter_accounts()} == {"alice@example.com", "bob@example.com"}
    alice = manager.get_account("alice@example.com")
    assert isinstance(alice, Account) and alice.enabled
    assert manager.has_account("bob@example.com")
    assert manager.has_account("sip:bob@example.com")
    assert not manager.has_account("carol@example.com")
    with pytest.raises(KeyError):
        manager.get_account("carol@example.com")
    assert manager.default_account is alice


def test_identity(manager: AccountManager) -> None:
    account = Account("sip:alice@example.com")
    assert account.id == "alice@example.com"
    assert account.uri == SIPURI(host="example.com", user="alice")
    account.auth.password = "secret"
    assert account.credentials.username == "alice"
    account.auth.username = "alice-auth"
    assert account.credentials.username == "alice-auth"
    assert account.credentials.password == "secret"
    # no realm: the signalling service binds the credentials to the account's realms
    assert account.credentials.to_bus() == {"username": "alice-auth", "password": "secret"}
    account.auth.realm = "sip.example.com"
    account.auth.allow_md5 = False
    account.auth.allow_qopless = False
    assert account.credentials.to_bus() == {
        "username": "alice-auth", "password": "secret", "realm": "sip.example.com",
        "allow_md5": False, "allow_qopless": False,
    }
    account.display_name = "Alice"
    assert not account.registered and account.registrar is None
    assert Account("alice@example.com") is account


def test_add_and_remove(manager: AccountManager, events: Recorder) -> None:
    account = Account("alice@example.com")
    assert not manager.has_account("alice@example.com")  # unsaved
    account.enabled = True
    account.sip.register = False
    account.save()
    added = events.wait("SIPAccountManagerDidAddAccount")
    assert added.data.account is account
    assert manager.get_account("alice@example.com") is account
    changed = events.wait("SIPAccountManagerDidChangeDefaultAccount")
    assert changed.data.old_account is None and changed.data.account is account
    assert ConfigurationManager().get_names("Accounts") == ["alice@example.com"]

    account.delete()
    removed = events.wait("SIPAccountManagerDidRemoveAccount")
    assert removed.data.account is account
    assert not manager.has_account("alice@example.com")
    assert list(manager.iter_accounts()) == []
    assert manager.default_account is None
    assert events.names == [
        "SIPAccountManagerDidAddAccount", "SIPAccountManagerDidChangeDefaultAccount",
        "SIPAccountManagerDidRemoveAccount", "SIPAccountManagerDidChangeDefaultAccount",
    ]


def test_default_account(manager: AccountManager, events: Recorder) -> None:
    alice = make("alice@example.com")
    bob = make("bob@example.com")
    assert manager.default_account is alice  # the first enabled one
    manager.default_account = bob
    assert manager.default_account is bob
    assert SIPSimpleSettings().default_account == "bob@example.com"
    change = events.named("SIPAccountManagerDidChangeDefaultAccount")[-1]
    assert change.data.old_account is alice and change.data.account is bob

    # disabling the default one falls back to the first enabled
    bob.enabled = False
    bob.save()
    assert manager.default_account is alice
    change = events.named("SIPAccountManagerDidChangeDefaultAccount")[-1]
    assert change.data.old_account is bob and change.data.account is alice

    # setting it through the settings works as well
    bob.enabled = True
    bob.save()
    settings = SIPSimpleSettings()
    settings.default_account = "bob@example.com"
    settings.save()
    assert manager.default_account is bob

    with pytest.raises(ValueError):
        manager.default_account = Account("unsaved@example.com")
    manager.default_account = None
    assert manager.default_account is alice


def test_no_default_without_enabled_accounts(manager: AccountManager) -> None:
    make("alice@example.com", enabled=False)
    assert manager.default_account is None


def test_stop_forgets_observers(manager: AccountManager, events: Recorder) -> None:
    manager.stop()
    make("alice@example.com")
    assert events.named("SIPAccountManagerDidAddAccount") == []
    manager.start()
    assert manager.has_account("alice@example.com")


def test_plain_account_settings_do_not_break_loading(backend: MemoryBackend) -> None:
    settings = AccountSettings("alice@example.com")
    settings.save()
    manager = AccountManager()
    manager.start()  # the id is taken by a live AccountSettings: skipped, no exception
    assert not manager.has_account("alice@example.com")
    del settings
