"""`sipsimple accounts ...` (click's CliRunner) and `sipsimple register` (a subprocess).

`register` runs against the real services under supervisord and a Kamailio
registrar (users alice/bob/carol, password "<name>-secret", domain sip.test).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from harness.kamailio import Kamailio

from sipsimple.cli.accounts import accounts

COMMAND = [sys.executable, "-c", "from sipsimple.cli.main import main; main()"]


def run(*args: str, cfg: Path, stdin: str = "x\n") -> Result:
    return CliRunner().invoke(
        accounts, list(args), env={"SIPSIMPLE_CONFIG_DIR": str(cfg)}, input=stdin
    )


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "cfg"


def listed(cfg: Path) -> list[dict[str, object]]:
    result = run("list", "--json", cfg=cfg)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_round_trip(cfg: Path) -> None:
    assert listed(cfg) == []
    added = run("add", "alice@example.com", "--password-stdin", "--display-name", "Alice",
                "--outbound-proxy", "proxy.example.com:5061;transport=tls", cfg=cfg,
                stdin="s3cret\n")
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "added alice@example.com\n"
    assert run("add", "sip:bob@example.com", "--password-stdin", "--no-register", "--default",
               cfg=cfg, stdin="b\n").exit_code == 0
    assert listed(cfg) == [
        {"id": "alice@example.com", "enabled": True, "default": False, "register": True},
        {"id": "bob@example.com", "enabled": True, "default": True, "register": False},
    ]
    text = run("list", cfg=cfg).stdout.splitlines()
    assert text[0].split() == ["ID", "ENABLED", "DEFAULT", "REGISTER"]
    assert text[2].split() == ["bob@example.com", "yes", "*", "no"]

    shown = json.loads(run("show", "alice@example.com", "--json", cfg=cfg).stdout)
    assert shown["display_name"] == "Alice" and shown["enabled"] is True
    assert shown["sip.outbound_proxy"] == "proxy.example.com:5061;transport=tls"
    assert shown["auth.password"] == "********"  # unless asked for
    assert shown["sip.register_interval"] == 600
    revealed = run("show", "alice@example.com", "--show-password", cfg=cfg).stdout.splitlines()
    assert "auth.password = s3cret" in revealed and "display_name = Alice" in revealed

    changed = run("set", "alice@example.com", "sip.register_interval=300", "display_name=",
                  "rtp.audio_codec_list=pcmu,opus", cfg=cfg)
    assert changed.exit_code == 0, changed.stderr
    shown = json.loads(run("show", "alice@example.com", "--json", cfg=cfg).stdout)
    assert shown["sip.register_interval"] == 300 and shown["display_name"] is None
    assert shown["rtp.audio_codec_list"] == ["PCMU", "opus"]

    # bob is the configured default; disabled, the SDK falls back to the first enabled
    assert run("set", "bob@example.com", "enabled=false", cfg=cfg).exit_code == 0
    assert [row["default"] for row in listed(cfg)] == [True, False]

    removed = run("remove", "bob@example.com", cfg=cfg)
    assert removed.exit_code == 0 and removed.stdout == "removed bob@example.com\n"
    assert [row["id"] for row in listed(cfg)] == ["alice@example.com"]
    config = (cfg / "config").read_text()
    assert "bob@example.com" not in config  # neither the account nor the default
    assert "interval = 300" in config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "carol@example.com"), "no account carol@example.com in"),
        (("set", "carol@example.com", "enabled=true"), "no account carol@example.com in"),
        (("remove", "carol@example.com"), "no account carol@example.com in"),
        (("add", "alice@example.com", "--password-stdin"), "account alice@example.com already"),
        (("add", "alice", "--password-stdin"), "invalid account id: 'alice' is not a SIP address"),
        (("add", "x@bad host", "--password-stdin"), "invalid account id"),
        (("add", "dave@example.com", "--password-stdin", "--outbound-proxy", "p:99999"),
         "for sip.outbound_proxy"),
        (("set", "alice@example.com", "sip.register_interval=soon"),
         "invalid value 'soon' for sip.register_interval"),
        (("set", "alice@example.com", "sip.regster=true"), "unknown setting 'sip.regster'"),
        (("set", "alice@example.com", "enabled"), "expected KEY=VALUE, got 'enabled'"),
    ],
)
def test_errors_are_one_line(cfg: Path, args: tuple[str, ...], message: str) -> None:
    assert run("add", "alice@example.com", "--password-stdin", cfg=cfg).exit_code == 0
    before = (cfg / "config").read_text()
    result = run(*args, cfg=cfg)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr, result.stderr
    assert (cfg / "config").read_text() == before  # a failed command writes nothing
    assert "dave@example.com" not in before


def test_set_is_all_or_nothing(cfg: Path) -> None:
    assert run("add", "alice@example.com", "--password-stdin", cfg=cfg).exit_code == 0
    result = run("set", "alice@example.com", "display_name=Al", "sip.register=maybe", cfg=cfg)
    assert result.exit_code == 1 and "sip.register" in result.stderr
    assert "Al" not in (cfg / "config").read_text()


def test_reading_never_writes(cfg: Path) -> None:
    assert listed(cfg) == []
    assert run("list", cfg=cfg).exit_code == 0
    assert not cfg.exists()
    assert run("add", "alice@example.com", "--password-stdin", cfg=cfg).exit_code == 0
    before = (cfg / "config").stat().st_mtime_ns
    for args in (("list",), ("list", "--json"), ("show", "alice@example.com"),
                 ("show", "alice@example.com", "--json")):
        assert run(*args, cfg=cfg).exit_code == 0
    assert (cfg / "config").stat().st_mtime_ns == before


def test_broken_stored_value_names_the_repair(cfg: Path) -> None:
    cfg.mkdir()
    (cfg / "config").write_text(
        "Accounts:\n    alice@example.com:\n        sip:\n            register_interval = 0\n")
    result = run("list", cfg=cfg)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "sipsimple accounts set alice@example.com sip.register_interval=VALUE" in result.stderr
    assert run("set", "alice@example.com", "sip.register_interval=60", cfg=cfg).exit_code == 0
    assert listed(cfg)[0]["id"] == "alice@example.com"


def in_a_terminal(*args: str, cfg: Path, typed: str) -> str:
    """Run the real `sipsimple` on a pseudo-terminal, type `typed` at its prompt;
    everything the terminal showed."""
    main, side = pty.openpty()
    process = subprocess.Popen([*COMMAND, *args], stdin=side, stdout=side, stderr=side,
                               env={**os.environ, "SIPSIMPLE_CONFIG_DIR": str(cfg)})
    os.close(side)
    shown = b""
    typed_yet = False
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        assert ready, f"no output; so far {shown!r}"
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not typed_yet and b": " in shown:
            os.write(main, typed.encode() + b"\n")
            typed_yet = True
    os.close(main)
    assert process.wait(60) == 0, shown
    return shown.decode()


def test_the_password_is_asked_for_without_echo(cfg: Path) -> None:
    shown = in_a_terminal("accounts", "add", "alice@example.com", cfg=cfg, typed="tty-s3cret")
    assert "Password: " in shown and "added alice@example.com" in shown
    assert "tty-s3cret" not in shown
    revealed = run("show", "alice@example.com", "--show-password", cfg=cfg).stdout
    assert "auth.password = tty-s3cret" in revealed.splitlines()


@pytest.mark.parametrize("flag", [(), ("--password-stdin",)], ids=["prompt", "stdin"])
def test_the_password_comes_from_standard_input(cfg: Path, flag: tuple[str, ...]) -> None:
    added = run("add", "alice@example.com", *flag, cfg=cfg, stdin="in-s3cret\n")
    assert added.exit_code == 0, added.stderr
    assert "warning" not in added.stderr
    revealed = run("show", "alice@example.com", "--show-password", cfg=cfg).stdout
    assert "auth.password = in-s3cret" in revealed.splitlines()
    assert "in-s3cret" not in run("show", "alice@example.com", cfg=cfg).stdout


def test_a_password_in_the_arguments_is_warned_about(cfg: Path) -> None:
    added = run("add", "alice@example.com", "--password", "argv-s3cret", cfg=cfg)
    assert added.exit_code == 0
    assert "warning: --password on the command line is visible" in added.stderr
    both = run("add", "bob@example.com", "--password", "x", "--password-stdin", cfg=cfg)
    assert both.exit_code == 2 and "not both" in both.stderr
    changed = run("set", "alice@example.com", "auth.password=other", cfg=cfg)
    assert changed.exit_code == 0 and "warning: auth.password on the command line" in (
        changed.stderr)


# --- register: real services, real registrar ------------------------------------------------


def sipsimple(*args: str, cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "SIPSIMPLE_CONFIG_DIR": str(cfg)},
    )


def add(cfg: Path, kamailio: Kamailio, user: str, password: str) -> None:
    proxy = f"127.0.0.1:{kamailio.udp_port};transport=udp"
    result = run("add", f"{user}@{kamailio.domain}", "--password-stdin",
                 "--outbound-proxy", proxy, cfg=cfg, stdin=password + "\n")
    assert result.exit_code == 0, result.stderr


def wait_unregistered(kamailio: Kamailio, user: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while kamailio.contacts(user):
        assert time.monotonic() < deadline, kamailio.registrations()
        time.sleep(0.05)


@pytest.mark.integration
def test_register(cfg: Path, kamailio: Kamailio, supervised: Path) -> None:
    add(cfg, kamailio, "alice", kamailio.password("alice"))
    add(cfg, kamailio, "bob", kamailio.password("bob"))
    # asked for by name, a disabled account registers too; bob stays out of it
    assert run("set", "alice@sip.test", "enabled=false", cfg=cfg).exit_code == 0
    before = (cfg / "config").read_text()
    result = sipsimple("register", "alice@sip.test", cfg=cfg)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "registered alice@sip.test"
    assert lines[1].split() == ["registrar:", f"udp:127.0.0.1:{kamailio.udp_port}"]
    assert lines[2].startswith("  contact:") and "@127.0.0.1:" in lines[2]
    assert lines[3].split()[0] == "expires:" and int(lines[3].split()[1]) > 0
    wait_unregistered(kamailio, "alice")  # unregistered on the way out
    assert kamailio.contacts("bob") == []
    assert (cfg / "config").read_text() == before

    result = sipsimple("register", "bob@sip.test", "--json", cfg=cfg)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["registered"] is True and outcome["account"] == "bob@sip.test"
    assert outcome["registrar"] == f"udp:127.0.0.1:{kamailio.udp_port}"
    assert outcome["expires"] > 0 and "@127.0.0.1:" in outcome["contact"]
    wait_unregistered(kamailio, "bob")


@pytest.mark.integration
def test_register_failures(cfg: Path, kamailio: Kamailio, supervised: Path) -> None:
    add(cfg, kamailio, "carol", "not-the-secret")
    result = sipsimple("register", "carol@sip.test", cfg=cfg)
    assert result.returncode == 1
    assert result.stderr == "error: registration of carol@sip.test failed: 403 Forbidden\n"
    assert kamailio.contacts("carol") == []

    result = sipsimple("register", "carol@sip.test", "--json", cfg=cfg)
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert (outcome["registered"], outcome["code"]) == (False, 403)

    unknown = sipsimple("register", "nobody@sip.test", cfg=cfg)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no account nobody@sip.test in ")
    assert unknown.stderr.count("\n") == 1
