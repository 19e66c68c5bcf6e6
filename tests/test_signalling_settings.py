"""SIPSettings: environment, updates, and the TransportConfig they make."""

from __future__ import annotations

import pytest

from sipsimple_services.signalling.bus.settings import SIPSettings
from sipsimple_services.signalling.sip.transactions.layer import LayerLimits


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


def test_stream_bounds_from_the_environment() -> None:
    default = SIPSettings().transport_config()
    assert (default.max_connections, default.max_connections_per_address,
            default.max_buffered_bytes, default.message_timeout,
            default.limits.max_body_bytes) == (1024, 32, 64 * 1024 * 1024, 30.0, 1024 * 1024)
    config = SIPSettings.from_env({
        "SIPSIMPLE_SIP_MAX_CONNECTIONS": "200", "SIPSIMPLE_SIP_MAX_CONNECTIONS_PER_ADDRESS": "4",
        "SIPSIMPLE_SIP_MAX_BUFFERED_BYTES": "8_000_000", "SIPSIMPLE_SIP_MESSAGE_TIMEOUT": "2.5",
        "SIPSIMPLE_SIP_MAX_BODY_BYTES": "65536",
    }).transport_config()
    assert (config.max_connections, config.max_connections_per_address,
            config.max_buffered_bytes, config.message_timeout,
            config.limits.max_body_bytes) == (200, 4, 8_000_000, 2.5, 65536)


@pytest.mark.parametrize(("name", "value"), [
    ("max_connections_per_address", "0"), ("max_buffered_bytes", "lots"),
    ("message_timeout", "-1"), ("max_body_bytes", "1.5"), ("max_connections", True),
])
def test_invalid_stream_bounds(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        SIPSettings().updated(**{name: value})
