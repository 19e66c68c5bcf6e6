"""SIPSimpleSettings: the global settings of the SDK."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

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
from .manager import ConfigurationManager

if TYPE_CHECKING:
    from ..storage import ISIPSimpleStorage
    from .backend import IConfigurationBackend

__all__ = ["SIPSimpleSettings", "start_configuration"]

log = logging.getLogger(__name__)


class SIPSimpleSettings(SettingsObject):
    """Global settings, stored under ``SIPSimpleSettings``.

    ``instance_id`` (a ``urn:uuid:``, the +sip.instance of RFC 5626) is None
    until the first save, which generates it; loading never writes, so reading
    the settings (``sipsimple config show``) leaves the file alone.
    ``SIPApplication.start`` calls ``ensure_instance_id()``, which generates and
    saves it, so it is set and stable whenever the application runs.
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
        # where AudioStream.start_recording() puts a file it names; None: the
        # state directory's "recordings"
        recordings_directory = Setting(Path, default=None, nillable=True)

        class echo_canceller(SettingsGroup):
            enabled = Setting(bool, default=True)
            tail_length = Setting(NonNegativeInteger, default=2)

    class rtp(SettingsGroup):
        # 8192 RTP/RTCP pairs, below Linux's ephemeral ports (docs/media.md)
        port_range = Setting(PortRange, default=PortRange(16384, 32767))
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
        # None: "logs" in the state directory (sipsimple.directories.state_home)
        directory = Setting(Path, default=None, nillable=True)
        trace_sip = Setting(bool, default=False)
        trace_msrp = Setting(bool, default=False)
        trace_dns = Setting(bool, default=False)
        trace_notifications = Setting(bool, default=False)

    class file_transfer(SettingsGroup):
        directory = Setting(Path, default="~/Downloads")

    def save(self) -> None:
        if self.instance_id is None:
            self.instance_id = f"urn:uuid:{uuid.uuid4()}"
        super().save()

    def ensure_instance_id(self) -> str:
        """Generate and save the instance id if it is not stored yet; return it.

        This saves the whole object: call it before making other changes, as
        ``SIPApplication.start`` does right after loading. A failed save is
        logged, not raised: the id holds for this run and is saved with the
        next successful save (e.g. read-only storage).
        """
        if self.instance_id is None:
            self.instance_id = f"urn:uuid:{uuid.uuid4()}"
        instance_id: str = self.instance_id
        if self._settings_state.saved.get("instance_id") != instance_id:
            try:
                self.save()
            except ConfigurationError as exc:
                log.warning("could not save the instance_id: %s", exc)
        return instance_id


def start_configuration(source: ISIPSimpleStorage | IConfigurationBackend) -> SIPSimpleSettings:
    """Start the ConfigurationManager on source and load SIPSimpleSettings.

    Any error (an unparsable file, an invalid stored value) propagates with the
    manager stopped again, so the call can be repeated once the file is fixed.
    Nothing is written: ``ensure_instance_id()`` on the result does that.
    """
    manager = ConfigurationManager()
    manager.start(source)
    try:
        return SIPSimpleSettings()
    except BaseException:
        manager.stop()
        raise
