"""SIPSimpleSettings: the global settings of the SDK."""

from __future__ import annotations

import logging
import uuid

from .. import __version__
from .datatypes import (
    AudioCodecList,
    NameserverList,
    NonNegativeInteger,
    Path,
    Port,
    PortRange,
    PositiveInteger,
    SampleRate,
    SIPAddress,
    SIPTransportList,
)
from .errors import ConfigurationError
from .framework import RuntimeSetting, Setting, SettingsGroup, SettingsObject

__all__ = ["SIPSimpleSettings"]

log = logging.getLogger(__name__)


class SIPSimpleSettings(SettingsObject):
    """Global settings, stored under ``SIPSimpleSettings``.

    ``instance_id`` (a ``urn:uuid:``, the +sip.instance of RFC 5626) is generated
    the first time the object is loaded and saved right away, so it stays stable.
    """

    __id__ = "SIPSimpleSettings"

    default_account = Setting(SIPAddress, default=None, nillable=True)
    user_agent = Setting(str, default=f"sipsimple {__version__}")
    instance_id = Setting(str, default=None, nillable=True)

    class audio(SettingsGroup):
        # A device name, "system_default", or None for the null device.
        input_device = Setting(str, default="system_default", nillable=True)
        output_device = Setting(str, default="system_default", nillable=True)
        alert_device = Setting(str, default="system_default", nillable=True)
        sample_rate = Setting(SampleRate, default=48000)
        muted = RuntimeSetting(bool, default=False)  # a mute should not survive a restart
        silent = Setting(bool, default=False)

        class echo_canceller(SettingsGroup):
            enabled = Setting(bool, default=True)
            tail_length = Setting(NonNegativeInteger, default=2)

    class rtp(SettingsGroup):
        port_range = Setting(PortRange, default=PortRange(50000, 50500))
        timeout = Setting(NonNegativeInteger, default=30)
        audio_codec_list = Setting(AudioCodecList, default=("opus", "G722", "PCMU", "PCMA"))

    class sip(SettingsGroup):
        transport_list = Setting(SIPTransportList, default=("tls", "tcp", "udp"))
        udp_port = Setting(Port, default=0)  # 0: ephemeral
        tcp_port = Setting(Port, default=0)
        tls_port = Setting(Port, default=0)
        invite_timeout = Setting(PositiveInteger, default=90)

    class tls(SettingsGroup):
        ca_list = Setting(Path, default=None, nillable=True)  # None: the system CA store
        certificate = Setting(Path, default=None, nillable=True)
        verify_server = Setting(bool, default=True)  # unlike the original SDK

    class dns(SettingsGroup):
        nameservers = Setting(NameserverList, default=())  # empty: the system's resolvers
        fallback_nameservers = Setting(NameserverList, default=())

    class logs(SettingsGroup):
        directory = Setting(Path, default="~/.local/state/sipsimple/logs")
        trace_sip = Setting(bool, default=False)
        trace_msrp = Setting(bool, default=False)
        trace_dns = Setting(bool, default=False)
        trace_notifications = Setting(bool, default=False)

    class file_transfer(SettingsGroup):
        directory = Setting(Path, default="~/Downloads")

    def _did_load(self) -> None:
        if self.instance_id is None:
            self.instance_id = f"urn:uuid:{uuid.uuid4()}"
            try:
                self.save()
            except ConfigurationError as exc:
                # Read-only storage still works; the id is saved with the next save.
                log.warning("could not save the new instance_id: %s", exc)
