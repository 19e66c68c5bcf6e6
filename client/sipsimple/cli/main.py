"""Entry point of the `sipsimple` command."""

from __future__ import annotations

import faulthandler
import signal

import click

from sipsimple import __version__
from sipsimple.cli.accounts import accounts, register
from sipsimple.cli.answer import answer
from sipsimple.cli.call import call, devices
from sipsimple.cli.chat import chat
from sipsimple.cli.conference import conference
from sipsimple.cli.config import config
from sipsimple.cli.demo import demo
from sipsimple.cli.desktop import share_desktop, view_desktop
from sipsimple.cli.files import send_file
from sipsimple.cli.lookup import lookup
from sipsimple.cli.message import message
from sipsimple.cli.nat import nat
from sipsimple.cli.output import CleanGroup, configure_logging
from sipsimple.cli.receive import receive
from sipsimple.cli.services import services
from sipsimple.cli.sip import options, trace
from sipsimple.cli.status import status


@click.group(cls=CleanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sipsimple")
def cli() -> None:
    """SIP SIMPLE client SDK: services, lookups, configuration, accounts, calls, messages, chat,
    files, desktop sharing, conferences, NAT probes."""
    configure_logging()


cli.add_command(services)
cli.add_command(lookup)
cli.add_command(config)
cli.add_command(demo)
cli.add_command(options)
cli.add_command(trace)
cli.add_command(accounts)
cli.add_command(register)
cli.add_command(status)
cli.add_command(call)
cli.add_command(answer)
cli.add_command(devices)
cli.add_command(message)
cli.add_command(receive)
cli.add_command(chat)
cli.add_command(send_file)
cli.add_command(nat)
cli.add_command(share_desktop)
cli.add_command(view_desktop)
cli.add_command(conference)


def main() -> None:
    # `kill -USR1 PID` prints every thread's stack to stderr: what a command that
    # does not end is waiting for.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    cli(prog_name="sipsimple")
