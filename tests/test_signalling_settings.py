"""SIPSettings: environment, updates, and the TransportConfig they make."""

from __future__ import annotations

import pytest

from sipsimple_services.signalling.settings import SIPSettings
from sipsimple_services.signalling.transaction_layer import LayerLimits


def test_defaults_are_loopback_udp_tcp_any_port() -> None:
    settings = SIPSettings.from_env({})
    assert settings == SIPSettings()
    config = settings.transport_config()
    assert (config.host, config.udp_port, config.tcp_port, config.tls_port) == (
        "127.0.0.1", 0, 0, None,
    )
    assert config.tls.verify_server is True


def test_environment() -> None:
    settings = SIPSettings.from_env({
        "SIPSIMPLE_SIP_HOST": "::1", "SIPSIMPLE_SIP_TRANSPORTS": " TCP, tls ,tcp",
        "SIPSIMPLE_SIP_TCP_PORT": "5070", "SIPSIMPLE_SIP_TLS_PORT": "5071",
        "SIPSIMPLE_SIP_TLS_CERTIFICATE": "/c.pem", "SIPSIMPLE_SIP_TLS_PRIVATE_KEY": "/k.pem",
        "SIPSIMPLE_SIP_TLS_VERIFY_SERVER": "no", "SIPSIMPLE_SIP_UDP_PORT": "",
    })
    assert settings.transports == ("tcp", "tls")
    config = settings.transport_config()
    assert (config.host, config.udp_port, config.tcp_port, config.tls_port) == (
        "::1", None, 5070, 5071,
    )
    assert (config.tls.certificate, config.tls.private_key, config.tls.verify_server) == (
        "/c.pem", "/k.pem", False,
    )


@pytest.mark.parametrize(("changes", "message"), [
    ({"transports": ["udp", "sctp"]}, "unknown transport"),
    ({"transports": []}, "at least one"),
    ({"transports": "udp"}, None),  # a string is a comma-separated list
    ({"transports": ["tls"]}, "tls_certificate"),
    ({"udp_port": -1}, "udp_port"),
    ({"tcp_port": "x"}, "tcp_port"),
    ({"host": "localhost"}, "IP address"),
    ({"tls_verify_server": "yes"}, "tls_verify_server"),
])
def test_invalid_updates(changes: dict[str, object], message: str | None) -> None:
    if message is None:
        assert SIPSettings().updated(**changes).transports == ("udp",)
        return
    with pytest.raises(ValueError, match=message):
        SIPSettings().updated(**changes)


def test_none_keeps_a_value() -> None:
    settings = SIPSettings(udp_port=5080)
    assert settings.updated(udp_port=None, host="[::1]") == SIPSettings(host="::1", udp_port=5080)


def test_max_transactions_from_the_environment_sets_the_layer_limits() -> None:
    assert SIPSettings.from_env({}).layer_limits() == LayerLimits()
    settings = SIPSettings.from_env({"SIPSIMPLE_SIP_MAX_TRANSACTIONS": "25000"})
    assert settings.max_transactions == 25000
    limits = settings.layer_limits()
    assert (limits.max_server_transactions, limits.max_client_transactions) == (25000, 25000)
    assert limits.retry_after == LayerLimits().retry_after
    for bad in ("lots", "0", "-5"):
        with pytest.raises(ValueError, match="max_transactions"):
            SIPSettings.from_env({"SIPSIMPLE_SIP_MAX_TRANSACTIONS": bad})
