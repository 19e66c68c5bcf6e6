"""Output helpers shared by the CLI commands: tables, JSON, one-line errors."""

from __future__ import annotations

import json
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


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


Formatter = Callable[[Any], str]
