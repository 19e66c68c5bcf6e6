"""Shared fixtures.

Every test session runs with its own private runtime and state directories,
so the tests never talk to (or start) a user's real services.
"""

from __future__ import annotations

import os
import shutil
import tempfile

# Before anything imports sipsimple.bus: isolate the whole session.
_SESSION_RUNTIME = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
os.environ["SIPSIMPLE_RUNTIME_DIR"] = _SESSION_RUNTIME
os.environ["SIPSIMPLE_STATE_DIR"] = tempfile.mkdtemp(prefix="sst-", dir="/tmp")

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
    "harness.pjsua",
]


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_RUNTIME, ignore_errors=True)
