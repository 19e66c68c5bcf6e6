"""AccountSettings: the per-account settings schema (id = the SIP address).

The Account class (sipsimple.account) builds on this; keeping the schema here
leaves that package free of configuration details.
"""

from __future__ import annotations

from .datatypes import (
    AudioCodecList,
    Hostname,
    MSRPConnectionModel,
    MSRPRelayAddress,
    MSRPTransport,
    NetworkAddress,
    NetworkAddressList,
    PositiveInteger,
    SIPAddress,
    SIPProxyAddress,
    SRTPKeyNegotiation,
    XCAPRoot,
)
from .framework import Setting, SettingsGroup, SettingsObject

__all__ = ["AccountSettings"]


class AccountSettings(SettingsObject):
    """Settings of one account, stored under ``Accounts/<id>``.

    ``AccountSettings("alice@example.com")`` returns the live object for that id,
    loaded from the configuration if stored (the ConfigurationManager must run).
    None in a nillable setting means "not set: use the global setting or discover".
    """

    __group__ = "Accounts"
    __id_type__ = SIPAddress

    enabled = Setting(bool, default=False)
    display_name = Setting(str, default=None, nillable=True)

    class auth(SettingsGroup):
        username = Setting(str, default=None, nillable=True)  # None: the id's user part
        password = Setting(str, default="")
        # The realm digest challenges must name; None: the account's domain or a realm
        # its registrar authenticated it with (a challenge for another realm is refused).
        realm = Setting(str, default=None, nillable=True)
        allow_md5 = Setting(bool, default=True)  # False: refuse MD5 and MD5-sess challenges
        allow_qopless = Setting(bool, default=True)  # False: refuse RFC 2069 (no qop)

    class sip(SettingsGroup):
        always_use_my_proxy = Setting(bool, default=True)
        outbound_proxy = Setting(SIPProxyAddress, default=None, nillable=True)
        register = Setting(bool, default=True)
        register_interval = Setting(PositiveInteger, default=600)
        subscribe_interval = Setting(PositiveInteger, default=600)
        publish_interval = Setting(PositiveInteger, default=600)
        # The name a TLS server certificate must match when routes resolve to IPs.
        tls_name = Setting(Hostname, default=None, nillable=True)

    class rtp(SettingsGroup):
        audio_codec_list = Setting(AudioCodecList, default=None, nillable=True)

        class encryption(SettingsGroup):
            enabled = Setting(bool, default=True)
            key_negotiation = Setting(SRTPKeyNegotiation, default="sdes_optional")

    class msrp(SettingsGroup):
        transport = Setting(MSRPTransport, default="tls")
        connection_model = Setting(MSRPConnectionModel, default="relay")

    class nat_traversal(SettingsGroup):
        use_ice = Setting(bool, default=False)
        stun_server_list = Setting(NetworkAddressList, default=None, nillable=True)  # None: DNS
        # TURN (RFC 8656, UDP, long-term credentials) for relayed ICE candidates
        turn_server = Setting(NetworkAddress, default=None, nillable=True)
        turn_username = Setting(str, default=None, nillable=True)  # None: the id's user part
        turn_password = Setting(str, default=None, nillable=True)
        # offer relayed candidates only (the relay forced: WebRTC's "relay" policy)
        ice_relay_only = Setting(bool, default=False)
        msrp_relay = Setting(MSRPRelayAddress, default=None, nillable=True)  # None: DNS
        use_msrp_relay_for_outbound = Setting(bool, default=False)

    class xcap(SettingsGroup):
        enabled = Setting(bool, default=False)
        xcap_root = Setting(XCAPRoot, default=None, nillable=True)

    class message_summary(SettingsGroup):
        enabled = Setting(bool, default=False)
        voicemail_uri = Setting(SIPAddress, default=None, nillable=True)

    class presence(SettingsGroup):
        enabled = Setting(bool, default=False)

    @property
    def id(self) -> str:
        return str(self.__id__)
