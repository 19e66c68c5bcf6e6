"""`sipsimple accounts list|add|show|set|remove` and `sipsimple register ACCOUNT`.

The accounts live in the same configuration as `sipsimple config` (a
FileStorage directory: --config-dir, else $SIPSIMPLE_CONFIG_DIR, else
$XDG_CONFIG_HOME/sipsimple, else ~/.config/sipsimple). `list` and `show`
only read it: they never create or rewrite the file.

`register` tries one account's registration through the facade exactly as an
application would (SIPApplication starting the AccountManager, the services
started if they are not running), prints the outcome and unregisters. It runs
on a copy of the configuration in memory holding only that account, so that
no other account registers meanwhile and nothing is written.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sipsimple.cli.config import _config_dir_option, _configuration, _file_storage
from sipsimple.cli.output import (
    HIDDEN,
    CleanGroup,
    emit_json,
    is_secret,
    read_secret,
    table,
    warn_secret_in_argv,
)
from sipsimple.configuration import (
    ConfigurationError,
    ConfigurationManager,
    ConfigurationParseError,
    InvalidStoredValueError,
)
from sipsimple.configuration.account import AccountSettings
from sipsimple.configuration.datatypes import SIPAddress
from sipsimple.configuration.framework import replacing_stored_values
from sipsimple.configuration.keys import (
    format_setting_value,
    resolve_setting,
    set_setting,
    set_setting_string,
    setting_items,
    setting_json,
)
from sipsimple.configuration.settings import SIPSimpleSettings
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.storage import FileStorage, MemoryStorage

__all__ = ["accounts", "register"]

STOP_WAIT = 20.0  # SIPApplication ends its components within 10 s; DidEnd follows


class AccountError(ConfigurationError):
    """An account that does not exist, already exists, or cannot be one."""


def _account_id(text: str) -> str:
    try:
        return str(SIPAddress.from_string(text))
    except ValueError as exc:
        raise AccountError(f"invalid account id: {exc}") from None


def _stored_ids() -> list[str]:
    return ConfigurationManager().get_names("Accounts")


def _require(account_id: str, storage: FileStorage) -> str:
    account_id = _account_id(account_id)
    if account_id not in _stored_ids():
        raise AccountError(f"no account {account_id} in {storage.configuration_file}")
    return account_id


def _load(account_id: str) -> AccountSettings:
    try:
        return AccountSettings(account_id)
    except InvalidStoredValueError as exc:
        if not exc.key:
            raise
        fix = f"sipsimple accounts set {account_id} {exc.key}=VALUE"
        raise ConfigurationError(f"{exc}; fix the file, or run `{fix}`") from None


def _effective_default(accounts: list[AccountSettings]) -> str | None:
    """The AccountManager's rule: the configured default if enabled, else the first enabled."""
    chosen = SIPSimpleSettings().default_account
    enabled = [account.id for account in accounts if account.enabled]
    if chosen is not None and str(chosen) in enabled:
        return str(chosen)
    return enabled[0] if enabled else None


@click.group(cls=CleanGroup)
@_config_dir_option
def accounts() -> None:
    """List, add, show, change or remove the stored SIP accounts."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_config_dir_option
def list_(as_json: bool) -> None:
    """List the accounts: id, enabled, default (the one the SDK uses), registers."""
    with _configuration(create=False):
        loaded = [_load(account_id) for account_id in _stored_ids()]
        default = _effective_default(loaded)
        rows = [
            {"id": a.id, "enabled": a.enabled, "default": a.id == default,
             "register": a.sip.register}
            for a in loaded
        ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no accounts (add one with `sipsimple accounts add ID`)")
        return
    table(
        ["ID", "ENABLED", "DEFAULT", "REGISTER"],
        [[r["id"], _yes(r["enabled"]), "*" if r["default"] else "", _yes(r["register"])]
         for r in rows],
    )


def _yes(value: bool) -> str:
    return "yes" if value else "no"


@accounts.command()
@click.argument("account_id", metavar="ID")
@click.option("--password-stdin", is_flag=True,
              help="Read the digest password from the first line of standard input.")
@click.option("--password", metavar="PASSWORD",
              help="Digest password; visible to other users: prefer the prompt or "
                   "--password-stdin.")
@click.option("--display-name", metavar="NAME", help="Display name in From headers.")
@click.option("--outbound-proxy", metavar="HOST[:PORT][;transport=T]",
              help="Send everything through this proxy (default: DNS for the domain).")
@click.option("--no-register", is_flag=True, help="Do not register the account.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default account.")
@_config_dir_option
def add(account_id: str, password_stdin: bool, password: str | None, display_name: str | None,
        outbound_proxy: str | None, no_register: bool, make_default: bool) -> None:
    """Add the account ID (user@domain), enabled, and save it.

    The password is asked for (without echo) unless --password-stdin is given.
    """
    account_id = _account_id(account_id)
    if password is not None and password_stdin:
        raise click.UsageError("give --password or --password-stdin, not both")
    if password is not None:
        warn_secret_in_argv("--password", "the prompt or --password-stdin")
    else:
        password = read_secret(password_stdin, "Password")
    with _configuration(create=True) as storage:
        if account_id in _stored_ids():
            raise AccountError(f"account {account_id} already exists in "
                               f"{storage.configuration_file}")
        account = AccountSettings(account_id)
        account.enabled = True
        set_setting(account, "auth.password", password)  # nested groups: by key for mypy
        set_setting(account, "sip.register", not no_register)
        if display_name is not None:
            account.display_name = display_name
        if outbound_proxy is not None:
            set_setting_string(account, "sip.outbound_proxy", outbound_proxy)
        if make_default:
            settings = SIPSimpleSettings()  # loaded before anything is saved: fails first
        account.save()
        if make_default:
            settings.default_account = account_id
            settings.save()
    click.echo(f"added {account_id}")


@accounts.command()
@click.argument("account_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: key -> value.")
@click.option("--show-password", is_flag=True, help="Show the password instead of stars.")
@_config_dir_option
def show(account_id: str, as_json: bool, show_password: bool) -> None:
    """Show every setting of the account ID."""
    with _configuration(create=False) as storage:
        items = setting_items(_load(_require(account_id, storage)))
    shown = {}
    for name, setting, value in items:
        hide = is_secret(name) and value and not show_password
        if as_json:
            shown[name] = HIDDEN if hide else setting_json(setting, value)
        else:
            shown[name] = HIDDEN if hide else format_setting_value(setting, value)
    if as_json:
        emit_json(shown)
        return
    for name, text in shown.items():
        click.echo(f"{name} = {text}".rstrip())


def _pairs(assignments: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise AccountError(f"expected KEY=VALUE, got {assignment!r}")
        pairs.append((key.strip(), value))
    return pairs


@accounts.command("set")
@click.argument("account_id", metavar="ID")
@click.argument("assignments", metavar="KEY=VALUE...", nargs=-1, required=True)
@_config_dir_option
def set_(account_id: str, assignments: tuple[str, ...]) -> None:
    """Change settings of the account ID and save them all, or none on an error.

    Values are written as for `sipsimple config set`: an empty value means
    "none" where allowed, lists are comma-separated.
    Example: `sipsimple accounts set alice@example.com sip.register=false enabled=true`.
    """
    pairs = _pairs(assignments)
    keys = [key for key, _ in pairs]
    for key in keys:
        if is_secret(key):
            warn_secret_in_argv(key, f"`sipsimple config set --account ID {key}` (it asks)")
    # Replacing a stored value that does not validate is how the user repairs it.
    with replacing_stored_values(*keys), _configuration(create=False) as storage:
        account = _load(_require(account_id, storage))
        for key, value in pairs:
            if not resolve_setting(account, key)[1].persistent:
                raise ConfigurationError(f"{key} is a runtime setting; it is never saved")
            set_setting_string(account, key, value)
        account.save()


@accounts.command()
@click.argument("account_id", metavar="ID")
@_config_dir_option
def remove(account_id: str) -> None:
    """Remove the account ID (and make no account the configured default if it was)."""
    with _configuration(create=False) as storage:
        account_id = _require(account_id, storage)
        manager = ConfigurationManager()
        # Removed through the tree: an account whose stored values are broken goes too.
        manager.delete(("Accounts", account_id))
        manager.save()
        settings = SIPSimpleSettings()
        if settings.default_account is not None and str(settings.default_account) == account_id:
            settings.default_account = None
            settings.save()
    click.echo(f"removed {account_id}")


# --- register ----------------------------------------------------------------------------


class _Outcome:
    """The first registration result of one account, and the application's end."""

    NAMES = ("SIPAccountRegistrationDidSucceed", "SIPAccountRegistrationDidFail")

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.result: Notification | None = None
        self.arrived = threading.Event()
        self.ended = threading.Event()

    def handle_notification(self, notification: Notification) -> None:
        if notification.name == "SIPApplicationDidEnd":
            self.ended.set()
        elif getattr(notification.sender, "id", None) == self.account_id and self.result is None:
            self.result = notification
            self.arrived.set()

    @contextmanager
    def observing(self) -> Iterator[None]:
        center = NotificationCenter()
        names = (*self.NAMES, "SIPApplicationDidEnd")
        for name in names:
            center.add_observer(self, name=name)
        try:
            yield
        finally:
            for name in names:
                center.discard_observer(self, name=name)


def _only_account(account_id: str) -> MemoryStorage:
    """The stored configuration with only `account_id`, enabled and registering, in memory."""
    storage = _file_storage(create=False)
    try:
        data = storage.configuration_backend.load()
    except ConfigurationParseError as exc:
        raise ConfigurationError(f"{exc}; fix the file, or move it aside to start afresh") from None
    stored = data.get("Accounts")
    if not isinstance(stored, dict) or account_id not in stored:
        raise AccountError(f"no account {account_id} in {storage.configuration_file}")
    memory = MemoryStorage()
    memory.configuration_backend.save(
        {**{k: v for k, v in data.items() if k != "Accounts"},
         "Accounts": {account_id: stored[account_id]}})
    manager = ConfigurationManager()
    manager.start(memory)
    try:
        account = _load(account_id)
        account.enabled = True  # asked for by name: registered even if disabled
        set_setting(account, "sip.register", True)
        account.save()
    finally:
        manager.stop()
    return memory


def _result_json(account_id: str, result: Notification | None) -> dict[str, Any]:
    if result is None:
        return {"account": account_id, "registered": False, "error": "timeout"}
    data = result.data
    if result.name == "SIPAccountRegistrationDidSucceed":
        return {"account": account_id, "registered": True, "registrar": str(data.registrar),
                "contact": data.contact_header, "expires": data.expires}
    return {"account": account_id, "registered": False, "code": data.code,
            "reason": data.reason, "error": data.error}


@click.command()
@click.argument("account_id", metavar="ACCOUNT")
@click.option("--timeout", type=click.FloatRange(0, 300, min_open=True), default=30.0,
              show_default=True, help="Seconds to wait for the registrar's answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@_config_dir_option
def register(account_id: str, timeout: float, as_json: bool) -> None:
    """Register ACCOUNT once, print the outcome, then unregister.

    Prints the registrar (transport:address:port), the Contact it accepted and
    the expiry; or the failure's code and reason. Exits 0 when registered, 1
    otherwise. The services are started if they are not running. A registration
    lasts only as long as its client (the services drop what a client leaves
    behind), so keeping one means running an application, not this command.
    """
    from sipsimple.application import SIPApplication

    account_id = _account_id(account_id)
    storage = _only_account(account_id)
    outcome = _Outcome(account_id)
    application = SIPApplication()
    with outcome.observing():
        application.start(storage)
        try:
            outcome.arrived.wait(timeout)
        finally:
            application.stop()
            outcome.ended.wait(STOP_WAIT)  # unregistered (bounded) before we exit
    result = outcome.result
    if as_json:
        emit_json(_result_json(account_id, result))
    elif result is None:
        click.echo(f"error: no registration result for {account_id} within {timeout:g} s",
                   err=True)
    elif result.name == "SIPAccountRegistrationDidSucceed":
        data = result.data
        click.echo(f"registered {account_id}")
        click.echo(f"  registrar: {data.registrar}")
        click.echo(f"  contact:   {data.contact_header}")
        click.echo(f"  expires:   {data.expires} s")
    else:
        data = result.data
        cause = f"{data.code} {data.reason or ''}".rstrip() if data.code else data.error
        click.echo(f"error: registration of {account_id} failed: {cause}", err=True)
    if result is None or result.name != "SIPAccountRegistrationDidSucceed":
        sys.exit(1)
