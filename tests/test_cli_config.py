"""`sipsimple config show|set|unset` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sipsimple.cli.config import config


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(config, list(args), env=env)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "cfg"


def test_set_then_show(cfg: Path) -> None:
    result = run("set", "sip.invite_timeout", "60", "--config-dir", str(cfg))
    assert result.exit_code == 0, result.stderr
    assert "invite_timeout = 60" in (cfg / "config").read_text()
    shown = run("show", "sip", "--config-dir", str(cfg))
    assert shown.exit_code == 0
    assert "sip.invite_timeout = 60" in shown.stdout.splitlines()
    assert all(line.startswith("sip.") for line in shown.stdout.splitlines())
    as_json = json.loads(run("--config-dir", str(cfg), "show", "--json").stdout)
    assert as_json["sip.invite_timeout"] == "60"
    assert as_json["rtp.audio_codec_list"] == ["opus", "G722", "PCMU", "PCMA"]
    assert as_json["tls.ca_list"] is None
    assert run("unset", "sip.invite_timeout", "--config-dir", str(cfg)).exit_code == 0
    assert run("show", "sip.invite_timeout", "--config-dir", str(cfg)).stdout == (
        "sip.invite_timeout = 90\n"
    )


def test_config_dir_from_environment(cfg: Path) -> None:
    result = run("set", "rtp.audio_codec_list", "pcmu,opus", env={"SIPSIMPLE_CONFIG_DIR": str(cfg)})
    assert result.exit_code == 0, result.stderr
    assert "audio_codec_list = PCMU, opus" in (cfg / "config").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "sip.invite_timout", "5"), "unknown setting 'sip.invite_timout'"),
        (("set", "sip.invite_timeout", "soon"), "invalid value 'soon' for sip.invite_timeout"),
        (("set", "audio.muted", "true"), "runtime setting"),
        (("show", "nosuch"), "unknown setting 'nosuch'"),
        (("show", "--account", "bob@example.com"), "no account bob@example.com"),
        (("set", "--account", "not an address", "enabled", "true"), "not a SIP address"),
    ],
)
def test_errors_are_one_line(cfg: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--config-dir", str(cfg))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.output


def test_account_settings(cfg: Path) -> None:
    proxy = "proxy.example.com:5061;transport=tls"
    base = ("--account", "alice@example.com", "--config-dir", str(cfg))
    assert run("set", "sip.outbound_proxy", proxy, *base).exit_code == 0
    shown = run("show", "sip.outbound_proxy", *base)
    assert shown.stdout == f"sip.outbound_proxy = {proxy}\n"
    assert run("set", "sip.outbound_proxy", "", *base).exit_code == 0
    assert run("show", "sip.outbound_proxy", *base).stdout == "sip.outbound_proxy =\n"


def test_corrupt_file_is_reported_and_kept(cfg: Path) -> None:
    cfg.mkdir()
    corrupt = 'SIPSimpleSettings:\n    sip:\n        invite_timeout = "60\n'
    (cfg / "config").write_text(corrupt)
    for args in (("show",), ("set", "sip.invite_timeout", "5")):
        result = run(*args, "--config-dir", str(cfg))
        assert result.exit_code == 1
        assert str(cfg / "config") in result.stderr and "line 3" in result.stderr
        assert "unterminated" in result.stderr
    assert (cfg / "config").read_text() == corrupt
