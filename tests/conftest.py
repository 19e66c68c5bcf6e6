"""Shared fixtures.

Every test session runs with its own private runtime and state directories,
so the tests never talk to (or start) a user's real services.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile

# The tests stop the CLI agents they start with Ctrl-C (SIGINT). A shell without
# job control starts a background command with SIGINT ignored, and an ignored
# signal stays ignored in every process started below it: every agent would
# then ignore its Ctrl-C. Take the default back for this process and its children.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Before anything imports sipsimple.bus: isolate the whole session.
_SESSION_RUNTIME = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
os.environ["SIPSIMPLE_RUNTIME_DIR"] = _SESSION_RUNTIME
os.environ["SIPSIMPLE_STATE_DIR"] = tempfile.mkdtemp(prefix="sst-", dir="/tmp")
# The services read the stored configuration: an empty one of the session's
# own, never the user's (a test that stores settings uses a directory of its own).
os.environ.pop("SIPSIMPLE_CONFIG_DIR", None)
_SESSION_CONFIG = tempfile.mkdtemp(prefix="ssc-", dir="/tmp")
os.environ["XDG_CONFIG_HOME"] = _SESSION_CONFIG

# Any DNS service a test starts (alone or under supervisord) asks loopback
# only: nothing listens on 127.0.0.1:9, so its nameserver probes fail at once
# instead of reaching the system resolver or a fallback server.
os.environ["SIPSIMPLE_DNS_NAMESERVERS"] = "127.0.0.1:9"
os.environ["SIPSIMPLE_DNS_FALLBACK_NAMESERVERS"] = ""

# "ci" explores a fixed set of examples (derandomized), so that a run is
# reproducible: scripts/test (hence CI) selects it with --hypothesis-profile.
# A bare pytest keeps searching randomly and remembers what it finds. Neither
# has a deadline: a slow example on a loaded machine is not a failure.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "explore")

pytest_plugins = [
    "pytester", "harness.peers", "harness.processes", "harness.dns", "harness.kamailio",
    "harness.pjsua", "harness.fixtures", "harness.turnserver", "harness.coturn",
    "harness.netns",
]


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def media_directories(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The tests play and record files in their tmp_path: configure the media
    service (and the facade, which passes it on) to allow that directory tree,
    as a user would configure theirs. Set before any service starts."""
    os.environ["SIPSIMPLE_MEDIA_DIRECTORIES"] = str(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def fresh_gevent_clock() -> None:
    """gevent counts a timer or a wait from its loop's last turn, which in a
    worker whose earlier tests ran no hub may be minutes old: a 10 s wait would
    end at once. Read the clock before each test that runs gevent here."""
    if "gevent" in sys.modules:
        import gevent

        gevent.get_hub().loop.update_now()


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_RUNTIME, ignore_errors=True)
    shutil.rmtree(_SESSION_CONFIG, ignore_errors=True)
