"""sipsimple.nat: STUN servers by name, the probe through the media service, local_nat_type.

The lab tests run our services inside a private network of the NAT lab
(harness.netns) and this process's facade outside it: the bus is unix
sockets, which namespaces do not separate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.fixtures import stop_application
from harness.netns import STUN_ALTERNATE, STUN_PRIMARY, NatLab, needs_lab
from harness.notifications import Recorder
from harness.turnserver import start_turnserver

from sipsimple.application import SIPApplication
from sipsimple.nat import NATProbeError, probe_nat, resolve_stun_server
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.storage import MemoryStorage

pytestmark = pytest.mark.integration


def test_servers_by_address_by_name_and_by_domain(dns_service: Path) -> None:
    assert resolve_stun_server("192.0.2.1") == [("192.0.2.1", 3478)]
    assert resolve_stun_server("[::1]", 3479) == [("::1", 3479)]
    assert resolve_stun_server("stun.example.test", 3480) == [("127.0.0.5", 3480)]
    assert resolve_stun_server("example.test") == [("127.0.0.5", 3479)]  # _stun._udp SRV
    with pytest.raises(NATProbeError, match=r"cannot resolve the STUN server missing\.test"):
        resolve_stun_server("missing.test")


def test_no_server_is_an_error() -> None:
    with pytest.raises(NATProbeError, match="no STUN server"):
        probe_nat([])


@needs_lab
@pytest.mark.parametrize(("site", "nat_type", "mapping"), [
    ("easy", "Cone", "endpoint-independent"),
    ("hard", "Symmetric", "endpoint-dependent"),
])
def test_two_servers_of_one_address_each_compare_mappings(
        nat_lab: NatLab, spawn_service: Callable[..., Any], site: str, nat_type: str,
        mapping: str) -> None:
    assert nat_lab.public is not None
    for address in (STUN_PRIMARY[0], STUN_ALTERNATE[0]):
        single = start_turnserver((address,), 3490, nat_lab.directory,
                                  prefix=nat_lab.public.command(()))
        nat_lab.processes.append(single.process)
    spawn_service("sipsimple_services.media", "media", netns=nat_lab.hosts[site].namespace)
    result = probe_nat([(STUN_PRIMARY[0], 3490), (STUN_ALTERNATE[0], 3490)])
    assert (result.method, result.mapping, result.filtering, result.nat_type) == (
        "rfc3489", mapping, "unknown", nat_type)
    assert result.mapped is not None and result.mapped[0] == nat_lab.nats[site].address
    assert result.other_address is None


@pytest.fixture
def app(nat_lab: NatLab) -> Iterator[SIPApplication]:
    application = SIPApplication()
    yield application
    stop_application(application)


def account_storage(**nat_traversal: str) -> MemoryStorage:
    storage = MemoryStorage()
    storage.configuration_backend.save({
        "SIPSimpleSettings": {"default_account": "alice@lab.test"},
        "Accounts": {"alice@lab.test": {"enabled": "true", "sip": {"register": "false"},
                                        "nat_traversal": nat_traversal}},
    })
    return storage


@needs_lab
def test_local_nat_type_from_the_default_accounts_stun_server(
        app: SIPApplication, lab_services: Callable[..., None], nat_lab: NatLab) -> None:
    lab_services("easy")
    assert app.local_nat_type == "unknown"
    with Recorder("SIPApplicationDidStart", "SIPEngineDetectedNATType") as recorder:
        app.start(account_storage(stun_server_list=f"{STUN_PRIMARY[0]}:{STUN_PRIMARY[1]}"))
        detected = recorder.wait("SIPEngineDetectedNATType", timeout=60)
        assert detected.sender is app
        assert (detected.data.succeeded, detected.data.nat_type, detected.data.error) == (
            True, "Port Restricted", None)
        assert app.local_nat_type == "Port Restricted"
        # the network changed (another address may be behind another NAT): probed again
        app.local_nat_type = "unknown"
        NotificationCenter().post_notification("NetworkConditionsDidChange", app,
                                               NotificationData())
        again = recorder.wait(lambda n: n.name == "SIPEngineDetectedNATType"
                              and n is not detected, timeout=60)
        assert again.data.nat_type == "Port Restricted"
        assert app.local_nat_type == "Port Restricted"
