"""Output helpers shared by the CLI commands: tables, JSON, one-line errors."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

HIDDEN = "********"
SECRET_NAMES = frozenset({"password"})  # the last part of a setting's key


def is_secret(key: str) -> bool:
    """Whether the setting `key` holds a secret, shown only when asked for."""
    return key.rpartition(".")[2] in SECRET_NAMES


def read_secret(from_stdin: bool, prompt: str) -> str:
    """A secret from the first line of standard input, or asked for without echo.

    Never from the command line: other users see a process's arguments (ps).
    """
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(prompt, hide_input=True)
    return value


def warn_secret_in_argv(what: str, instead: str) -> None:
    click.echo(
        f"warning: {what} on the command line is visible to other users (ps, shell "
        f"history); use {instead}",
        err=True,
    )


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [
        ["" if v is None else str(v) for v in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo(
            "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        )


class CleanGroup(click.Group):
    """A group whose commands fail with one clear line and exit code 1, never a traceback.

    Set SIPSIMPLE_DEBUG=1 to see the traceback of an unexpected error.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            if os.environ.get("SIPSIMPLE_DEBUG"):
                raise
            message = str(exc) or type(exc).__name__
            click.echo(f"error: {message}", err=True)
            sys.exit(1)


LOG_FILE = "cli.log"
LOG_HANDLER = "sipsimple-cli"


def configure_logging() -> None:
    """The library's log lines go to cli.log with the services' logs, never to the terminal
    between the command's own lines; SIPSIMPLE_LOG_LEVEL sets the level (WARNING)."""
    from sipsimple.supervision import log_dir

    root = logging.getLogger()
    root.setLevel(os.environ.get("SIPSIMPLE_LOG_LEVEL", "WARNING").upper())
    if any(h.get_name() == LOG_HANDLER for h in root.handlers):
        return  # configured already (several commands in one process, as in tests)
    handler: logging.Handler
    try:
        directory = log_dir()
        directory.mkdir(mode=0o700, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            directory / LOG_FILE, maxBytes=1 << 20, backupCount=1, encoding="utf-8",
            delay=True)  # no file until there is something to say
    except OSError:
        handler = logging.NullHandler()  # no state directory: no log, still no noise
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.set_name(LOG_HANDLER)
    root.addHandler(handler)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


Formatter = Callable[[Any], str]
