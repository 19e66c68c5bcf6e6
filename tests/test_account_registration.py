"""Accounts registering with Kamailio through the real signalling and DNS services.

The account's outbound proxy is Kamailio's address (an IP literal with a port,
which the DNS service resolves without queries), so no DNS server is needed;
the failover test looks its routes up in a dnsmasq zone of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.sessions import session_services

from sipsimple.account import Account, AccountManager
from sipsimple.bus.client import get_bus
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.configuration.datatypes import SIPProxyAddress
from sipsimple.core import Route

pytestmark = pytest.mark.integration

NAMES = ("SIPAccountRegistrationDidSucceed", "SIPAccountRegistrationDidFail",
         "SIPAccountRegistrationDidEnd")


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> None:
    session_services(spawn_service)


@pytest.fixture
def manager(services: None) -> Iterator[AccountManager]:
    ConfigurationManager().start(MemoryBackend())
    manager = AccountManager()
    manager.start()
    yield manager
    manager.stop()
    ConfigurationManager().stop()


@pytest.fixture
def events() -> Iterator[Recorder]:
    with Recorder(*NAMES) as recorder:
        yield recorder


def account(kamailio: Kamailio, user: str, password: str, transport: str = "udp") -> Account:
    result = Account(f"{user}@{kamailio.domain}")
    result.enabled = True
    result.auth.password = password
    result.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", kamailio.port(transport), transport)
    result.sip.register_interval = 300
    result.save()
    return result


def wait_unregistered(kamailio: Kamailio, user: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while kamailio.contacts(user):
        assert time.monotonic() < deadline, kamailio.registrations()
        time.sleep(0.05)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_disable_enable(kamailio: Kamailio, manager: AccountManager, events: Recorder,
                                 transport: str) -> None:
    alice = account(kamailio, "alice", kamailio.password("alice"), transport)
    succeeded = events.wait("SIPAccountRegistrationDidSucceed")
    assert succeeded.sender is alice
    assert succeeded.data.expires > 0
    assert succeeded.data.registrar == Route("127.0.0.1", kamailio.port(transport), transport,
                                             succeeded.data.registrar.tls_name)
    assert succeeded.data.contact_header
    assert alice.registered and alice.registrar == succeeded.data.registrar
    assert len(kamailio.wait_registered("alice")) == 1, kamailio.log()
    assert any(r.aor == "alice" for r in kamailio.registrations())

    alice.enabled = False
    alice.save()
    ended = events.wait("SIPAccountRegistrationDidEnd")
    assert ended.sender is alice
    assert not alice.registered
    wait_unregistered(kamailio, "alice")

    # enabling again registers again
    alice.enabled = True
    alice.save()
    events.wait(lambda n: n.name == "SIPAccountRegistrationDidSucceed" and n is not succeeded)
    assert len(kamailio.wait_registered("alice")) == 1


def test_a_network_change_registers_again(kamailio: Kamailio, manager: AccountManager,
                                          events: Recorder) -> None:
    """NetworkConditionsDidChange (the host's address changed): the registration is
    ended and made again (a new lookup, the Contact of the address the kernel picks
    now), as the original SDK's accounts do; an account that does not register is
    left alone."""
    from sipsimple.application import SIPApplication
    from sipsimple.notification import NotificationCenter, NotificationData

    quiet = Account(f"bob@{kamailio.domain}")
    quiet.enabled, quiet.sip.register = True, False
    quiet.save()
    alice = account(kamailio, "alice", kamailio.password("alice"))
    first = events.wait("SIPAccountRegistrationDidSucceed")
    NotificationCenter().post_notification("NetworkConditionsDidChange", SIPApplication(),
                                           NotificationData())
    ended = events.wait("SIPAccountRegistrationDidEnd")
    again = events.wait(lambda n: n.name == "SIPAccountRegistrationDidSucceed"
                        and n is not first)
    assert ended.sender is alice and again.sender is alice and alice.registered
    assert len(kamailio.wait_registered("alice")) == 1
    assert [n.sender for n in events.seen] == [alice] * 3
    assert kamailio.contacts("bob") == []


def test_wrong_password_fails_with_403_and_fixing_it_registers(
        kamailio: Kamailio, manager: AccountManager, events: Recorder) -> None:
    carol = account(kamailio, "carol", "not-the-secret")
    failed = events.wait("SIPAccountRegistrationDidFail")
    assert failed.sender is carol
    assert failed.data.code == 403, failed.data.__dict__
    assert failed.data.retry_after is not None
    assert not carol.registered
    assert kamailio.contacts("carol") == []

    carol.auth.password = kamailio.password("carol")
    carol.save()  # a settings change re-registers at once
    events.wait("SIPAccountRegistrationDidSucceed")
    assert carol.registered
    assert len(kamailio.wait_registered("carol")) == 1


def test_failover_to_the_next_route(kamailio: Kamailio, manager: AccountManager,
                                    events: Recorder,
                                    dnsmasq_zone: Callable[[str], int]) -> None:
    # The account's domain in DNS (RFC 3263): first a registrar that is down
    # (TCP port 9, nothing behind it), then Kamailio over UDP.
    domain = kamailio.domain
    zone = dnsmasq_zone(
        "local=/test/\n"
        f'naptr-record={domain},10,10,"S","SIP+D2T","","_sip._tcp.{domain}"\n'
        f'naptr-record={domain},20,10,"S","SIP+D2U","","_sip._udp.{domain}"\n'
        f"srv-host=_sip._tcp.{domain},down.{domain},9,0,10\n"
        f"srv-host=_sip._udp.{domain},up.{domain},{kamailio.port('udp')},0,10\n"
        f"host-record=down.{domain},127.0.0.1\nhost-record=up.{domain},127.0.0.1\n"
    )
    get_bus().call("dns", "set_nameservers", nameservers=[f"127.0.0.1:{zone}"],
                   fallback_nameservers=[])
    routes = get_bus().call("dns", "lookup_sip_proxy", uri=f"sip:{domain}",
                            supported_transports=["tls", "tcp", "udp"])["result"]
    assert [(r["port"], r["transport"]) for r in routes] == [(9, "tcp"),
                                                              (kamailio.port("udp"), "udp")]
    bob = Account(f"bob@{domain}")  # no outbound proxy: the domain is looked up
    bob.auth.password = kamailio.password("bob")
    bob.enabled = True
    bob.save()
    succeeded = events.wait("SIPAccountRegistrationDidSucceed", timeout=40)
    registrar = succeeded.data.registrar
    assert (registrar.address, registrar.port, registrar.transport) == (
        "127.0.0.1", kamailio.port("udp"), "udp")
    assert events.named("SIPAccountRegistrationDidFail") == []
    assert len(kamailio.wait_registered("bob")) == 1


def test_delete_and_stop_unregister(kamailio: Kamailio, manager: AccountManager,
                                    events: Recorder) -> None:
    alice = account(kamailio, "alice", kamailio.password("alice"))
    bob = account(kamailio, "bob", kamailio.password("bob"))
    for user in ("alice", "bob"):
        kamailio.wait_registered(user)
    alice.delete()
    events.wait(lambda n: n.name == "SIPAccountRegistrationDidEnd" and n.sender is alice)
    wait_unregistered(kamailio, "alice")
    assert bob.registered
    manager.stop()
    events.wait(lambda n: n.name == "SIPAccountRegistrationDidEnd" and n.sender is bob)
    wait_unregistered(kamailio, "bob")


def test_a_realm_setting_binds_the_credentials(
        kamailio: Kamailio, manager: AccountManager, events: Recorder) -> None:
    """auth.realm names the only realm answered: Kamailio's (the domain) is refused until
    the setting names it, or is cleared (the default binding: the account's domain)."""
    kamailio.add_user("dave", "dave-secret")
    dave = Account(f"dave@{kamailio.domain}")
    dave.auth.realm = "elsewhere.test"
    dave.auth.password = kamailio.password("dave")
    dave.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", kamailio.port("udp"), "udp")
    dave.enabled = True
    dave.save()
    failed = events.wait("SIPAccountRegistrationDidFail")
    assert failed.sender is dave and failed.data.code == 401, failed.data.__dict__
    assert kamailio.contacts("dave") == []
    dave.auth.realm = None
    dave.save()
    events.wait("SIPAccountRegistrationDidSucceed")
    assert len(kamailio.wait_registered("dave")) == 1
    dave.delete()
    wait_unregistered(kamailio, "dave")
    kamailio.remove_user("dave")
