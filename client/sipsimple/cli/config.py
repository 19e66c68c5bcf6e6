"""`sipsimple config`: show and change settings stored in a FileStorage directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from sipsimple import directories
from sipsimple.cli.output import (
    HIDDEN,
    CleanGroup,
    emit_json,
    is_secret,
    read_secret,
    warn_secret_in_argv,
)
from sipsimple.configuration import (
    ConfigurationError,
    ConfigurationManager,
    ConfigurationParseError,
    InvalidStoredValueError,
    SettingsObject,
)
from sipsimple.configuration.account import AccountSettings
from sipsimple.configuration.datatypes import SIPAddress
from sipsimple.configuration.framework import replacing_stored_values
from sipsimple.configuration.keys import (
    format_setting_value,
    get_setting,
    reset_setting,
    resolve_setting,
    set_setting_string,
    setting_items,
    setting_json,
)
from sipsimple.configuration.settings import SIPSimpleSettings
from sipsimple.storage import FileStorage

__all__ = ["config", "default_config_dir"]

F = TypeVar("F", bound=Callable[..., Any])
_META_KEY = "sipsimple.config_dir"


def default_config_dir() -> str:
    return str(directories.config_dir())


def _config_dir_option(function: F) -> F:
    # Accepted before or after the subcommand name: `config --config-dir D show` too.
    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.meta[_META_KEY] = value

    option = click.option(
        "--config-dir",
        type=click.Path(file_okay=False),
        expose_value=False,
        callback=remember,
        help="Configuration directory [default: $SIPSIMPLE_CONFIG_DIR, else "
        "$XDG_CONFIG_HOME/sipsimple, else ~/.config/sipsimple].",
    )
    return option(function)


def _account_option(function: F) -> F:
    option = click.option(
        "--account", "account_id", metavar="ID", help="Use this account's settings (user@domain)."
    )
    return option(function)


def _require_persistent(settings: SettingsObject, key: str) -> None:
    if not resolve_setting(settings, key)[1].persistent:
        raise ConfigurationError(f"{key} is a runtime setting; it is never saved")


def _file_storage(create: bool) -> FileStorage:
    """The FileStorage of this command's configuration directory."""
    directory = click.get_current_context().meta.get(_META_KEY) or default_config_dir()
    return FileStorage(directory, create=create)


@contextmanager
def _configuration(create: bool) -> Iterator[FileStorage]:
    """The ConfigurationManager running on the configuration file; create=False writes nothing."""
    storage = _file_storage(create)
    manager = ConfigurationManager()
    try:
        manager.start(storage.configuration_backend)
    except ConfigurationParseError as exc:
        raise ConfigurationError(f"{exc}; fix the file, or move it aside to start afresh") from None
    try:
        yield storage
    finally:
        manager.stop()


@contextmanager
def _settings(account_id: str | None, create: bool) -> Iterator[SettingsObject]:
    """The settings object to work on; create=False is read-only: nothing is written."""
    with _configuration(create) as storage:
        yield _load(ConfigurationManager(), storage, account_id, create)


def _load(
    manager: ConfigurationManager, storage: FileStorage, account_id: str | None, create: bool
) -> SettingsObject:
    if account_id is not None:
        account_id = str(SIPAddress.from_string(account_id))
        if not create and account_id not in manager.get_names("Accounts"):
            raise ConfigurationError(f"no account {account_id} in {storage.configuration_file}")
    try:
        return SIPSimpleSettings() if account_id is None else AccountSettings(account_id)
    except InvalidStoredValueError as exc:
        if not exc.key:
            raise
        account = f" --account {account_id}" if account_id is not None else ""
        fix = f"sipsimple config set{account} {exc.key} VALUE"
        raise ConfigurationError(f"{exc}; fix the file, or run `{fix}`") from None


@click.group(cls=CleanGroup)
@_config_dir_option
def config() -> None:
    """Show or change the stored configuration."""


@config.command()
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: key -> value.")
@click.option("--show-password", is_flag=True, help="Show passwords instead of stars.")
@_account_option
@_config_dir_option
def show(key: str | None, as_json: bool, show_password: bool, account_id: str | None) -> None:
    """Show all settings, or those under KEY (a setting or a group such as `sip`)."""
    with _settings(account_id, create=False) as settings:
        items = setting_items(settings)
        if key is not None:
            items = [item for item in items if item[0] == key or item[0].startswith(key + ".")]
            if not items:
                get_setting(settings, key)  # raises UnknownSettingError with suggestions
        hidden = {name for name, _, value in items
                  if is_secret(name) and value and not show_password}
        if as_json:
            emit_json({name: HIDDEN if name in hidden else setting_json(setting, value)
                       for name, setting, value in items})
            return
        for name, setting, value in items:
            text = HIDDEN if name in hidden else format_setting_value(setting, value)
            click.echo(f"{name} = {text}".rstrip())


@config.command("set")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read VALUE from the first line of standard input.")
@_account_option
@_config_dir_option
def set_(key: str, value: str | None, from_stdin: bool, account_id: str | None) -> None:
    """Set KEY to VALUE and save. An empty VALUE means "none" where allowed.

    Lists are comma-separated: `sipsimple config set rtp.audio_codec_list opus,PCMU`.
    With --account, an account that does not exist yet is created. A password
    is best left out of the command line: without VALUE it is asked for.
    """
    if value is not None and from_stdin:
        raise click.UsageError("give VALUE or --stdin, not both")
    if value is None:
        if not from_stdin and not is_secret(key):
            raise click.UsageError("missing VALUE (or --stdin)")
        value = read_secret(from_stdin, key)
    elif is_secret(key):
        warn_secret_in_argv(key, "the prompt (leave VALUE out) or --stdin")
    # Replacing a stored value that does not validate is how the user repairs it.
    with replacing_stored_values(key), _settings(account_id, create=True) as settings:
        _require_persistent(settings, key)
        set_setting_string(settings, key, value)
        settings.save()


@config.command()
@click.argument("key")
@_account_option
@_config_dir_option
def unset(key: str, account_id: str | None) -> None:
    """Return KEY to its default value and save."""
    with replacing_stored_values(key), _settings(account_id, create=False) as settings:
        _require_persistent(settings, key)
        reset_setting(settings, key)
        settings.save()
