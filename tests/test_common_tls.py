"""services/common/tls.py: the stored tls.* settings both TLS services read.

(`describe_tls_error` and `tls_files_problem` are exercised through the
services in tests/test_tls.py and the transport TLS tests.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipsimple.configuration.datatypes import Port
from sipsimple_services.common.stored import StoredConfig
from sipsimple_services.common.tls import TLS_STORED_KEYS, read_stored
from sipsimple_services.msrp.bus import service as msrp_service
from sipsimple_services.signalling.bus import service as signalling_service

CONFIG = StoredConfig({"tls_port": ("sip.tls_port", Port), **TLS_STORED_KEYS})


def test_the_keys_are_the_original_sdks_tls_settings() -> None:
    assert {name: key for name, (key, _type) in TLS_STORED_KEYS.items()} == {
        "tls_certificate": "tls.certificate",
        "tls_ca_file": "tls.ca_list",
        "tls_verify_server": "tls.verify_server",
    }


def test_both_services_read_the_shared_keys() -> None:
    for stored in (msrp_service.STORED, signalling_service.STORED):
        assert {name: stored.keys[name] for name in TLS_STORED_KEYS} == dict(TLS_STORED_KEYS)
    assert "tls_port" in signalling_service.STORED.keys  # its own beside them


def test_paths_come_out_expanded_and_absolute(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config"
    path.write_text(
        "SIPSimpleSettings:\n"
        "    sip:\n        tls_port = 5071\n"
        "    tls:\n"
        "        certificate = ~/tls/me.pem\n"
        "        ca_list = relative/ca.pem\n"
        "        verify_server = false\n"
    )
    values = read_stored(CONFIG, path)
    assert values == {
        "tls_port": 5071,
        "tls_certificate": str(tmp_path / "home" / "tls" / "me.pem"),
        "tls_ca_file": os.path.join(str(tmp_path), "relative", "ca.pem"),
        "tls_verify_server": False,
    }
    assert type(values["tls_certificate"]) is str  # as configure takes it, not the setting type


def test_nothing_stored_and_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    assert read_stored(CONFIG, path) == {}
    path.write_text("SIPSimpleSettings:\n    tls:\n        verify_server = true\n")
    assert read_stored(CONFIG, path) == {"tls_verify_server": True}
    path.write_text('SIPSimpleSettings:\n    tls:\n        certificate = "unterminated\n')
    assert read_stored(CONFIG, path) is None  # the caller keeps what it had
