"""A facade client that takes one account's MESSAGEs and then stops before answering.

``python -m harness.message_client USER DOMAIN [PROXY_PORT PASSWORD]`` (cwd
tests/, the test's environment): the account is claimed (and registered
through the proxy at 127.0.0.1:PROXY_PORT over UDP when given); it prints
``ready`` once it holds the account, then ``got <body>`` for a message, whose
observer then never returns, so the MessageManager never answers: the state of
a client killed between receiving a message and acknowledging it. The test
kills it (SIGKILL) there. `start` runs it and waits for ``ready``; its
`Output` waits for the rest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.cli import Output


def main(argv: list[str]) -> None:
    from sipsimple.account import Account, AccountManager
    from sipsimple.configuration import ConfigurationManager
    from sipsimple.configuration.backend import MemoryBackend
    from sipsimple.configuration.datatypes import SIPProxyAddress
    from sipsimple.notification import NotificationCenter

    user, domain, *proxy = argv
    ready = threading.Event()

    class Observer:
        def handle_notification(self, notification: Any) -> None:
            if notification.name == "SIPEngineGotMessage":
                print("got", notification.data.body.decode(errors="replace"), flush=True)
                threading.Event().wait()  # never returns: the 200 never goes
            elif notification.name == "SIPAccountRegistrationDidSucceed" or (
                    notification.name == "SIPAccountDidActivate" and not proxy):
                ready.set()

    center = NotificationCenter()
    for name in ("SIPEngineGotMessage", "SIPAccountDidActivate",
                 "SIPAccountRegistrationDidSucceed"):
        center.add_observer(Observer(), name=name)
    ConfigurationManager().start(MemoryBackend())
    account = Account(f"{user}@{domain}")
    account.enabled = True
    account.sip.register = bool(proxy)
    if proxy:
        port, password = proxy
        account.auth.password = password
        account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", int(port), "udp")
        account.sip.register_interval = 300
    account.save()
    AccountManager().start()
    ready.wait()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def start(*args: str) -> tuple[subprocess.Popen[bytes], Output]:
    """The client running with `args` and its output, once it printed ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.message_client", *args],
        cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    output = Output(process.stdout)
    try:
        output.expect("ready", 60)
    except BaseException:
        process.kill()
        process.wait(5)
        raise
    return process, output


if __name__ == "__main__":
    main(sys.argv[1:])
