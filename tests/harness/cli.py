"""Running `sipsimple` commands as processes: a configuration, the answering agent, output.

The agent (`sipsimple answer`) runs with its stdout on a pipe read as it
comes (`Output`), and its stdin either closed or a pseudo-terminal the test
types into, as a user would.
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sipsimple.bus.client import get_bus
from sipsimple.cli.main import cli


def sipsimple(*args: str) -> list[str]:
    return [sys.executable, "-m", "sipsimple", *args]


def run_console_script(*args: str, timeout: float = 60,
                       **options: Any) -> subprocess.CompletedProcess[str]:
    """`sipsimple ARGS` through the installed console script, as a user runs it."""
    executable = shutil.which("sipsimple")
    assert executable, "the sipsimple console script is not installed"
    return subprocess.run([executable, *args], capture_output=True, text=True, timeout=timeout,
                          **options)


def make_config(directory: Path, *names: str) -> Path:
    """A configuration with accounts name@127.0.0.1 (no registration) and no sound devices."""
    runner = CliRunner()
    for name in names:
        result = runner.invoke(cli, ["accounts", "add", f"{name}@127.0.0.1", "--password-stdin",
                                     "--no-register", "--config-dir", str(directory)],
                               input="x\n")
        assert result.exit_code == 0, result.output
    for key, value in (("audio.input_device", "None"), ("audio.output_device", "None"),
                       ("audio.alert_device", "None")):
        result = runner.invoke(cli, ["config", "set", key, value, "--config-dir", str(directory)])
        assert result.exit_code == 0, result.output
    return directory


class Output:
    """What a process writes to a pipe, read as it comes (no buffering in between)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.seen = b""

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    def forget(self) -> None:
        """Later expectations (and `text`) see only what comes from now on."""
        self.seen = b""

    def expect(self, text: str, timeout: float = 20) -> None:
        self.expect_any(text, timeout=timeout)

    def expect_any(self, *texts: str, timeout: float = 20) -> str:
        """The first of `texts` to appear (the earliest in the output if several have)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [(self.seen.find(t.encode()), t) for t in texts if t.encode() in self.seen]
            if found:
                return min(found)[1]
            assert time.monotonic() < deadline, f"none of {texts!r} in {self.seen.decode()}"
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"the output ended before {texts!r}: {self.seen.decode()}"
                self.seen += chunk


def wait_claimed(aor: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the signalling service has `aor` claimed (the agent takes its calls)."""
    deadline = time.monotonic() + timeout
    while aor not in {c["aor"] for c in get_bus().call("signalling", "status")["accounts"]}:
        assert process.poll() is None, f"the agent exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{aor} was never claimed"
        time.sleep(0.1)


@dataclass
class Agent:
    process: subprocess.Popen[bytes]
    output: Output
    terminal: int | None  # the pseudo-terminal's controlling side, to type into

    def type(self, text: str) -> None:
        assert self.terminal is not None
        os.write(self.terminal, text.encode())


@contextmanager
def agent(config_dir: Path, *args: str, tty: bool = False,
          claimed: str = "sip:bob@127.0.0.1") -> Iterator[Agent]:
    """`sipsimple answer ARGS` running, once `claimed` is claimed; stopped with Ctrl-C after."""
    controller = terminal = None
    if tty:
        controller, terminal = pty.openpty()
    process = subprocess.Popen(
        sipsimple("answer", *args, "--config-dir", str(config_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=terminal if terminal is not None else subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if terminal is not None:
        os.close(terminal)
    running = Agent(process, Output(process.stdout), controller)
    try:
        wait_claimed(claimed, process)
        running.output.expect("waiting for calls")
        yield running
    finally:
        end_agent(process, controller)


SLOW_EXIT = 15.0  # seconds after Ctrl-C; an agent alone exits in about one


def warn_slow_exit(process: subprocess.Popen[bytes]) -> None:
    """A warning (in the run's summary, the test still passes) with the threads' stacks
    of an agent that has not exited on Ctrl-C: SIGUSR1 makes it print them."""
    if process.stdout is None:
        return
    process.send_signal(signal.SIGUSR1)
    text, deadline = b"", time.monotonic() + 5
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout.fileno()], [], [], 0.5)
        if not ready:
            if text:
                break  # the dump has come and nothing follows
            continue
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        text += chunk
    warnings.warn(f"{shlex.join(map(str, process.args))} has not exited {SLOW_EXIT:g} s "
                  f"after Ctrl-C; its threads:\n{text.decode(errors='replace')[-8000:]}",
                  stacklevel=2)


def end_agent(process: subprocess.Popen[bytes], controller: int | None) -> None:
    """Stop a CLI process as a user would (Ctrl-C, then kill) and close its pipes."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(SLOW_EXIT)
        except subprocess.TimeoutExpired:
            warn_slow_exit(process)
            try:
                process.wait(60 - SLOW_EXIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    if controller is not None:
        os.close(controller)
    if process.stdout is not None:
        process.stdout.close()
