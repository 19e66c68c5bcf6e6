"""Value types for settings. Each parses from text and serializes to stored state.

See ``base`` for the conversion rules shared by all types.
"""

from __future__ import annotations

from .base import (
    ChoiceValue,
    IntValue,
    ListValue,
    SettingType,
    State,
    StrValue,
    coerce_value,
    value_from_state,
    value_from_string,
    value_to_state,
    value_to_string,
)
from .network import (
    Hostname,
    IPAddress,
    MSRPRelayAddress,
    NameserverAddress,
    NameserverList,
    NetworkAddress,
    NetworkAddressList,
    SIPAddress,
    SIPProxyAddress,
    XCAPRoot,
)
from .values import (
    AudioCodec,
    AudioCodecList,
    MSRPConnectionModel,
    MSRPTransport,
    NonNegativeInteger,
    Path,
    Port,
    PortRange,
    PositiveInteger,
    SampleRate,
    SIPTransport,
    SIPTransportList,
    SRTPKeyNegotiation,
)

__all__ = [
    "AudioCodec",
    "AudioCodecList",
    "ChoiceValue",
    "Hostname",
    "IPAddress",
    "IntValue",
    "ListValue",
    "MSRPConnectionModel",
    "MSRPRelayAddress",
    "MSRPTransport",
    "NameserverAddress",
    "NameserverList",
    "NetworkAddress",
    "NetworkAddressList",
    "NonNegativeInteger",
    "Path",
    "Port",
    "PortRange",
    "PositiveInteger",
    "SIPAddress",
    "SIPProxyAddress",
    "SIPTransport",
    "SIPTransportList",
    "SRTPKeyNegotiation",
    "SampleRate",
    "SettingType",
    "State",
    "StrValue",
    "XCAPRoot",
    "coerce_value",
    "value_from_state",
    "value_from_string",
    "value_to_state",
    "value_to_string",
]
