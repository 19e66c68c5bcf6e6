"""The tls.* settings in the real signalling and msrp services, and SIPApplicationFailedToStartTLS.

Settings that do not load (a CA file that is not one, a certificate without
its key) leave the services running without TLS; the application says why.
Both ways the settings reach the services are tested: pushed by an
application on storage of its own, and read from the stored configuration by
the services themselves (written by `sipsimple config set`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.cli import run_console_script
from harness.fixtures import stop_application
from harness.notifications import Recorder
from harness.tlsca import TestCA

from sipsimple import directories
from sipsimple.application import SIPApplication
from sipsimple.bus.client import ServiceError, get_bus
from sipsimple.storage import FileStorage, MemoryStorage
from sipsimple.tls import TLSSettingsError, tls_settings
from sipsimple_services.common.tls import tls_files_problem

NAMES = ("SIPApplicationFailedToStartTLS", "SIPApplicationDidStart", "SIPApplicationDidEnd")


@pytest.fixture
def app(runtime: Path, config_home: Path) -> Iterator[SIPApplication]:
    application = SIPApplication()
    yield application
    stop_application(application)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ca = TestCA(tmp_path)
    leaf = ca.issue("leaf", "sip.test", ips=("127.0.0.1",))
    both = tmp_path / "both.pem"  # the original SDK's tls.certificate: certificate and key
    both.write_bytes(leaf.cert.read_bytes() + leaf.key.read_bytes())
    garbage = tmp_path / "not-a-ca.pem"
    garbage.write_text("this is not a certificate\n")
    return {"ca": ca.path, "cert_only": leaf.cert, "both": both, "garbage": garbage}


def sipsimple(*args: str) -> str:
    done = run_console_script(*args)
    assert done.returncode == 0, f"sipsimple {' '.join(args)}: {done.stderr}"
    return done.stdout


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


def options_over_udp(port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.sendto((
            f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKtls{local}\r\n"
            "Max-Forwards: 70\r\nTo: <sip:probe@127.0.0.1>\r\n"
            "From: <sip:raw@127.0.0.1>;tag=r1\r\n"
            f"Call-ID: tls-{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode(), ("127.0.0.1", port))
        return sock.recvfrom(65535)[0]


def tls_errors() -> dict[str, Any]:
    bus = get_bus()
    return {"signalling": bus.call("signalling", "get_transports")["tls_error"],
            "msrp": bus.call("msrp", "status")["tls_error"]}


def start(app: SIPApplication, storage: Any, recorder: Recorder) -> None:
    app.start(storage)
    recorder.wait("SIPApplicationDidStart")


# --- unit ----------------------------------------------------------------------


def test_the_files_are_loaded_to_find_what_is_wrong(files: dict[str, Path]) -> None:
    assert tls_files_problem(str(files["both"]), None, str(files["ca"])) is None
    problem = tls_files_problem(None, None, str(files["garbage"]))
    assert problem is not None and f"the CA file {files['garbage']} does not load" in problem
    problem = tls_files_problem(str(files["cert_only"]), None, None)
    assert problem is not None and "does not load with its private key (in the same file)" in (
        problem)
    problem = tls_files_problem(None, None, "/nonexistent/ca.pem")
    assert problem == "the CA file /nonexistent/ca.pem does not load: No such file or directory"


# --- the real services -----------------------------------------------------------


@pytest.mark.integration
def test_settings_pushed_by_an_application_on_storage_of_its_own(
        app: SIPApplication, files: dict[str, Path]) -> None:
    storage = MemoryStorage()
    storage.configuration_backend.save(
        {"SIPSimpleSettings": {"tls": {"ca_list": str(files["garbage"])}}})
    with Recorder(*NAMES) as recorder:
        start(app, storage, recorder)
        failed = recorder.wait("SIPApplicationFailedToStartTLS")
        assert recorder.names.index("SIPApplicationFailedToStartTLS") < recorder.names.index(
            "SIPApplicationDidStart")
        error = failed.data.error
        assert isinstance(error, TLSSettingsError) and failed.sender is app
        assert f"the CA file {files['garbage']} does not load" in str(error)
        assert tls_errors() == {"signalling": str(error), "msrp": str(error)}
        assert len(recorder.named("SIPApplicationFailedToStartTLS")) == 1  # for both services
        # The rest goes on: SIP over UDP answers, a TLS request fails with the reason.
        bus = get_bus()
        assert options_over_udp(bus.call("signalling", "get_transports")["udp"]).startswith(
            b"SIP/2.0 200 ")
        outcome = bus.call("signalling", "send_options", uri="sip:x@127.0.0.1",
                           route={"host": "127.0.0.1", "port": 5061, "transport": "tls"})
        assert outcome["code"] == 503 and "TLS is off: the CA file" in str(outcome["error"])

        # Corrected by the application: applied and checked at once, no notification.
        from sipsimple.configuration.settings import SIPSimpleSettings

        settings = SIPSimpleSettings()
        settings.tls.ca_list = str(files["ca"])
        settings.save()
        wait_for(lambda: tls_errors() == {"signalling": None, "msrp": None}, "TLS back")
        assert get_bus().call("msrp", "status")["tls"] is False  # no certificate yet

        # A certificate without its private key: told again, msrps refused with the reason.
        settings.tls.certificate = str(files["cert_only"])
        settings.save()
        failed = recorder.wait(lambda n: n.name == "SIPApplicationFailedToStartTLS"
                               and "private key" in str(n.data.error))
        assert str(files["cert_only"]) in str(failed.data.error)
        # told as soon as one service said so: the other may still be taking it up
        wait_for(lambda: tls_errors()["msrp"] == str(failed.data.error), "msrp without TLS")
        with pytest.raises(ServiceError) as refused:
            get_bus().call("msrp", "create_session", address="127.0.0.1", tls=True)
        assert "msrps is off: the certificate" in str(refused.value)

        # The certificate with its key in one file, as the original SDK stores it.
        settings.tls.certificate = str(files["both"])
        settings.save()
        wait_for(lambda: get_bus().call("msrp", "status")["tls"] is True, "msrps")
        session = get_bus().call("msrp", "create_session", address="127.0.0.1")
        assert session["tls"] is True and session["path"].startswith("msrps://")
        assert tls_errors() == {"signalling": None, "msrp": None}
        assert tls_settings()["tls_certificate"] == str(files["both"])


@pytest.mark.integration
def test_settings_the_services_read_from_the_stored_configuration(
        app: SIPApplication, files: dict[str, Path]) -> None:
    sipsimple("config", "set", "tls.certificate", str(files["cert_only"]))
    with Recorder(*NAMES) as recorder:
        start(app, FileStorage(directories.config_dir()), recorder)
        failed = recorder.wait("SIPApplicationFailedToStartTLS")
        assert failed.data.error.service == "signalling"
        assert f"the certificate {files['cert_only']} does not load" in str(failed.data.error)
        assert tls_errors()["msrp"] == str(failed.data.error)
        assert f"SIP over TLS is off: {failed.data.error}" in sipsimple("status")
        # Another process changes the stored file: the services take it up
        # themselves, and the application hears of it (once for both services).
        sipsimple("config", "set", "tls.ca_list", str(files["garbage"]))
        again = recorder.wait(lambda n: n.name == "SIPApplicationFailedToStartTLS"
                              and "the CA file" in str(n.data.error))
        assert str(files["garbage"]) in str(again.data.error)
        sipsimple("config", "set", "tls.certificate", str(files["both"]))  # the CA still fails
        sipsimple("config", "set", "tls.ca_list", str(files["ca"]))
        wait_for(lambda: tls_errors() == {"signalling": None, "msrp": None}, "TLS back")
        assert get_bus().call("msrp", "status")["tls"] is True
        told = [str(n.data.error) for n in recorder.named("SIPApplicationFailedToStartTLS")]
        assert told == [str(failed.data.error), str(again.data.error)]


@pytest.mark.integration
def test_good_settings_post_nothing(app: SIPApplication, files: dict[str, Path]) -> None:
    storage = MemoryStorage()
    storage.configuration_backend.save({"SIPSimpleSettings": {"tls": {
        "ca_list": str(files["ca"]), "certificate": str(files["both"])}}})
    with Recorder(*NAMES) as recorder:
        start(app, storage, recorder)
        assert "SIPApplicationFailedToStartTLS" not in recorder.names
        assert tls_errors() == {"signalling": None, "msrp": None}
        assert get_bus().call("msrp", "status")["tls"] is True
