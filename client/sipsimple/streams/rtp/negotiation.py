"""RFC 3264 offer/answer for one audio m-line: offers, answers and what was agreed.

Pure functions of SDP values (`sipsimple.core.sdp`) and an `AudioConfig`;
the AudioStream calls them and hands the resulting `NegotiatedMedia` to the
media service.

- Offer: our codec order, static payload types 0/8/9, dynamic ones from 96
  (opus), `telephone-event` at 101 (and at 102 with a 48000 clock next to
  opus, RFC 4733 2.1), `a=ptime`, `a=rtcp-mux`, and per the SRTP policy
  plain RTP/AVP, RTP/AVP with `a=crypto` (optional) or RTP/SAVP (mandatory).
- Answer: the first format of the offer we support (the offerer's order
  wins, RFC 3264 6.1; `prefer_local_order` moves our own first common codec
  to the front instead, as the original SDK did), with the offerer's payload
  type numbers, one codec plus telephone-event, and the first usable
  `a=crypto` answered with a key of ours.
- Answer received: the answerer's first codec that we offered is used.

Everything a peer can get wrong is `SDPNegotiationError` (488).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sipsimple.core.sdp import SDPAttribute, SDPConnection, SDPMediaStream, SDPNegotiationError
from sipsimple.core.sdp.offer_answer import answer_direction
from sipsimple.streams.rtp.codecs import (
    AUDIO_CODECS,
    DEFAULT_CODEC_ORDER,
    DYNAMIC_PAYLOAD_TYPES,
    TELEPHONE_EVENT,
    TELEPHONE_EVENT_EVENTS,
    RTPFormat,
    canonical_codec_name,
    media_formats,
)
from sipsimple.streams.rtp.crypto import (
    SUPPORTED_SUITES,
    CryptoAttribute,
    generate_key,
    offer_attributes,
    usable_attributes,
)

__all__ = [
    "RTP_TRANSPORTS",
    "AudioConfig",
    "NegotiatedMedia",
    "SRTPParameters",
    "SRTPPolicy",
    "answer_audio_offer",
    "build_audio_offer",
    "check_audio_offer",
    "negotiate_answer",
    "srtp_policy",
]

SRTPPolicy = Literal["disabled", "optional", "mandatory"]
SRTP_POLICIES: tuple[str, ...] = ("disabled", "optional", "mandatory")
RTP_TRANSPORTS = ("RTP/AVP", "RTP/SAVP")
TELEPHONE_EVENT_PAYLOAD_TYPES = (101, 102)
_PTIME = re.compile(r"([0-9]{1,4})(?:\.[0-9]*)?")
_RTCP = re.compile(r"([0-9]{1,5})(?:\s+IN\s+IP[46]\s+(\S+))?\s*")
_SENDS = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_RECEIVES = {"sendrecv": True, "sendonly": False, "recvonly": True, "inactive": False}


def srtp_policy(enabled: bool, key_negotiation: str) -> SRTPPolicy:
    """The policy for an account's `rtp.encryption` settings."""
    if not enabled:
        return "disabled"
    return "mandatory" if key_negotiation == "sdes_mandatory" else "optional"


@dataclass(frozen=True, slots=True)
class AudioConfig:
    codecs: tuple[str, ...] = DEFAULT_CODEC_ORDER  # account's list, else the global one
    srtp: SRTPPolicy = "optional"
    ptime: int = 20
    rtcp_mux: bool = True
    telephone_event: bool = True
    prefer_local_order: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.codecs, str):
            raise ValueError("codecs is a sequence of names such as ('opus', 'PCMU')")
        names: list[str] = []
        for name in self.codecs:
            canonical = canonical_codec_name(name)
            if canonical is None:
                raise ValueError(f"unsupported audio codec: {name!r}")
            if canonical not in names:
                names.append(canonical)
        if not names:
            raise ValueError("at least one audio codec is needed")
        object.__setattr__(self, "codecs", tuple(names))
        if self.srtp not in SRTP_POLICIES:
            raise ValueError(f"SRTP policy must be one of {SRTP_POLICIES}, not {self.srtp!r}")
        if isinstance(self.ptime, bool) or not isinstance(self.ptime, int) or self.ptime <= 0:
            raise ValueError(f"invalid ptime: {self.ptime!r}")


@dataclass(frozen=True, slots=True)
class SRTPParameters:
    suite: str
    tag: int  # of the a=crypto line that was agreed
    local_key: bytes = field(repr=False)  # protects what we send
    remote_key: bytes = field(repr=False)  # checks what we receive

    def local_attribute(self) -> CryptoAttribute:
        return CryptoAttribute(self.tag, self.suite, self.local_key)


@dataclass(frozen=True, slots=True)
class NegotiatedMedia:
    """What one audio stream runs with after an offer/answer exchange."""

    codec: str  # our spelling: opus, G722, PCMU, PCMA
    payload_type: int  # sent with (the peer's number for the codec)
    local_payload_type: int  # expected from the peer (our number)
    clock_rate: int
    sample_rate: int
    telephone_event_payload_type: int | None  # sent with; None: no RFC 4733 events
    local_telephone_event_payload_type: int | None
    telephone_event_clock_rate: int | None
    ptime: int  # what the peer asked to receive (ms)
    direction: str  # ours: sendrecv, sendonly, recvonly or inactive
    remote_address: str
    remote_port: int
    remote_rtcp_address: str
    remote_rtcp_port: int
    rtcp_mux: bool
    srtp: SRTPParameters | None

    @property
    def srtp_active(self) -> bool:
        return self.srtp is not None

    @property
    def sends(self) -> bool:
        return _SENDS[self.direction]

    @property
    def receives(self) -> bool:
        return _RECEIVES[self.direction]


def _error(message: str, warning: str | None = None) -> SDPNegotiationError:
    return SDPNegotiationError(message, warning=warning or message)


def _connection(address: str) -> SDPConnection:
    return SDPConnection(address, address_type="IP6" if ":" in address else "IP4")


def _telephone_event_clocks(codecs: tuple[str, ...]) -> list[int]:
    # 8000 always, first: many peers send events at 8000 whatever the codec;
    # then the clock of every other codec offered (opus: 48000).
    clocks = [8000]
    for name in codecs:
        clock = AUDIO_CODECS[name].clock_rate
        if clock not in clocks:
            clocks.append(clock)
    return clocks


def build_audio_offer(
    config: AudioConfig,
    address: str,
    port: int,
    *,
    rtcp_port: int | None = None,
    direction: str = "sendrecv",
    previous: NegotiatedMedia | None = None,
    rekey: bool = False,
) -> SDPMediaStream:
    """Our audio m-line for an offer or a re-offer.

    A re-offer (`previous` given) keeps the SRTP key of the agreed suite
    unless `rekey`, so that a hold or a refresh does not re-key the stream;
    every other suite always gets a new key.
    """
    formats: list[str] = []
    attributes: list[SDPAttribute] = []
    dynamic = iter(pt for pt in DYNAMIC_PAYLOAD_TYPES if pt not in TELEPHONE_EVENT_PAYLOAD_TYPES)
    for name in config.codecs:
        info = AUDIO_CODECS[name]
        payload_type = info.static_payload_type
        if payload_type is None:
            payload_type = next(dynamic)
        formats.append(str(payload_type))
        channels = f"/{info.channels}" if info.channels != 1 else ""
        rtpmap = f"{payload_type} {name}/{info.clock_rate}{channels}"
        attributes.append(SDPAttribute("rtpmap", rtpmap))
    if config.telephone_event:
        clocks = _telephone_event_clocks(config.codecs)
        for payload_type, clock in zip(TELEPHONE_EVENT_PAYLOAD_TYPES, clocks, strict=False):
            formats.append(str(payload_type))
            attributes.append(SDPAttribute("rtpmap", f"{payload_type} {TELEPHONE_EVENT}/{clock}"))
            attributes.append(SDPAttribute("fmtp", f"{payload_type} {TELEPHONE_EVENT_EVENTS}"))
    attributes.append(SDPAttribute("ptime", str(config.ptime)))
    if rtcp_port is not None and rtcp_port != port + 1:
        attributes.append(SDPAttribute("rtcp", str(rtcp_port)))
    if config.rtcp_mux:
        attributes.append(SDPAttribute("rtcp-mux"))
    if config.srtp != "disabled":
        keep = None
        if previous is not None and previous.srtp is not None and not rekey:
            keep = previous.srtp.local_attribute()
        for crypto in offer_attributes(SUPPORTED_SUITES, keep):
            attributes.append(SDPAttribute("crypto", str(crypto)))
    transport = "RTP/SAVP" if config.srtp == "mandatory" else "RTP/AVP"
    media = SDPMediaStream(
        "audio", port, transport, formats=formats, connection=_connection(address),
        attributes=attributes,
    )
    media.direction = direction
    return media


# ---- reading the peer's m-line ----


def _remote_media(session: Any, index: int) -> Any:
    if not 0 <= index < len(session.media):
        raise _error(f"no m-line {index} in the description")
    media = session.media[index]
    if media.media != "audio":
        raise _error(f"m-line {index} is {media.media!r}, not audio")
    if media.port == 0:
        raise _error(f"m-line {index} is disabled (port 0)")
    if media.transport.upper() not in RTP_TRANSPORTS:
        raise _error(
            f"unsupported audio transport {media.transport!r}", warning="Unsupported transport"
        )
    return media


def _endpoints(session: Any, index: int, mux: bool) -> tuple[str, int, str, int]:
    media = session.media[index]
    connection = session.media_connection(index)
    if connection is None:
        raise _error(f"no connection address for m-line {index}", warning="Missing c= line")
    address, port = connection.address, media.port
    if mux:
        return address, port, address, port
    rtcp = media.attributes.getfirst("rtcp")
    if rtcp is not None:
        match = _RTCP.fullmatch(rtcp)
        if match is None or not 0 < int(match.group(1)) <= 65535:
            raise _error(f"malformed a=rtcp: {rtcp!r}")
        return address, port, match.group(2) or address, int(match.group(1))
    if port == 65535:
        raise _error("RTP on port 65535 leaves no port for RTCP")
    return address, port, address, port + 1


def _ptime(media: Any) -> int:
    value = media.attributes.getfirst("ptime")
    if value is not None:
        match = _PTIME.fullmatch(value.strip())
        if match is not None and 0 < int(match.group(1)) <= 1000:
            return int(match.group(1))
    return 20


def _telephone_event(formats: list[RTPFormat], clock_rate: int) -> RTPFormat | None:
    events = [f for f in formats if f.is_telephone_event]
    for event in events:
        if event.clock_rate == clock_rate:
            return event
    return events[0] if events else None


def _srtp_offered(media: Any, config: AudioConfig) -> list[CryptoAttribute]:
    """The usable a=crypto lines of an offer, [] for plain RTP; errors per the policy."""
    secure = media.transport.upper() == "RTP/SAVP"
    crypto = []
    if config.srtp != "disabled":
        crypto = usable_attributes(media.attributes.getall("crypto"))
    if secure and config.srtp == "disabled":
        raise _error("SRTP (RTP/SAVP) offered but disabled for this account", "SRTP disabled")
    if (secure or config.srtp == "mandatory") and not crypto:
        raise _error("no usable a=crypto line (SDES-SRTP is required)", "No usable SRTP crypto")
    return crypto


def _choose_codec(formats: list[RTPFormat], config: AudioConfig) -> RTPFormat:
    candidates = [f for f in formats if f.codec is not None and f.codec.name in config.codecs]
    if not candidates:
        raise _error("no common audio codec", warning="Incompatible media format")
    if config.prefer_local_order:
        # min() keeps the earlier one among equals: the offer's order breaks ties.
        return min(candidates, key=lambda f: config.codecs.index(f.codec.name))  # type: ignore[union-attr]
    return candidates[0]


def _negotiated(
    codec: RTPFormat,
    local_payload_type: int,
    event: RTPFormat | None,
    local_event: RTPFormat | None,
    media: Any,
    direction: str,
    endpoints: tuple[str, int, str, int],
    mux: bool,
    srtp: SRTPParameters | None,
) -> NegotiatedMedia:
    """The agreed media: `codec`, `event` and `media` (its a=ptime) as the peer wrote them."""
    info = codec.codec
    assert info is not None
    address, port, rtcp_address, rtcp_port = endpoints
    return NegotiatedMedia(
        codec=info.name,
        payload_type=codec.payload_type,
        local_payload_type=local_payload_type,
        clock_rate=info.clock_rate,
        sample_rate=info.sample_rate,
        telephone_event_payload_type=event.payload_type if event else None,
        local_telephone_event_payload_type=local_event.payload_type if local_event else None,
        telephone_event_clock_rate=event.clock_rate if event else None,
        ptime=_ptime(media),
        direction=direction,
        remote_address=address,
        remote_port=port,
        remote_rtcp_address=rtcp_address,
        remote_rtcp_port=rtcp_port,
        rtcp_mux=mux,
        srtp=srtp,
    )


@dataclass(frozen=True, slots=True)
class _OfferChoice:
    codec: RTPFormat
    event: RTPFormat | None
    crypto: CryptoAttribute | None
    mux: bool


def _choose_from_offer(session: Any, index: int, config: AudioConfig) -> _OfferChoice:
    media = _remote_media(session, index)
    formats = media_formats(media)
    codec = _choose_codec(formats, config)
    assert codec.codec is not None
    event = _telephone_event(formats, codec.clock_rate) if config.telephone_event else None
    crypto = _srtp_offered(media, config)
    mux = config.rtcp_mux and "rtcp-mux" in media.attributes
    _endpoints(session, index, mux)  # check them before anything is accepted
    return _OfferChoice(codec, event, crypto[0] if crypto else None, mux)


def check_audio_offer(offer: Any, index: int, config: AudioConfig) -> None:
    """Raise `SDPNegotiationError` unless m-line `index` of `offer` can be answered."""
    _choose_from_offer(offer, index, config)


def answer_audio_offer(
    offer: Any,
    index: int,
    config: AudioConfig,
    address: str,
    port: int,
    *,
    rtcp_port: int | None = None,
    direction: str = "sendrecv",
    previous: NegotiatedMedia | None = None,
) -> tuple[SDPMediaStream, NegotiatedMedia]:
    """Our answering m-line for m-line `index` of `offer`, and what it agrees on.

    With `previous` (a re-offer), our SRTP key is kept while the peer offers
    the same suite, tag and key again; any change gets a new key of ours.
    """
    choice = _choose_from_offer(offer, index, config)
    media = offer.media[index]
    codec = choice.codec
    info = codec.codec
    assert info is not None
    formats = [str(codec.payload_type)]
    attributes = [SDPAttribute("rtpmap", codec.rtpmap)]
    if choice.event is not None:
        formats.append(str(choice.event.payload_type))
        attributes.append(SDPAttribute("rtpmap", choice.event.rtpmap))
        attributes.append(
            SDPAttribute("fmtp", f"{choice.event.payload_type} {TELEPHONE_EVENT_EVENTS}")
        )
    attributes.append(SDPAttribute("ptime", str(config.ptime)))
    if rtcp_port is not None and rtcp_port != port + 1 and not choice.mux:
        attributes.append(SDPAttribute("rtcp", str(rtcp_port)))
    if choice.mux:
        attributes.append(SDPAttribute("rtcp-mux"))
    srtp = None
    if choice.crypto is not None:
        remote = choice.crypto
        old = previous.srtp if previous is not None else None
        unchanged = old is not None and (old.suite, old.tag, old.remote_key) == (
            remote.suite, remote.tag, remote.key,
        )
        local_key = old.local_key if unchanged and old is not None else generate_key()
        srtp = SRTPParameters(remote.suite, remote.tag, local_key, remote.key)
        attributes.append(SDPAttribute("crypto", str(srtp.local_attribute())))
    ours = answer_direction(offer.media_direction(index), direction)
    answer = SDPMediaStream(
        "audio", port, media.transport, formats=formats, connection=_connection(address),
        attributes=attributes,
    )
    answer.direction = ours
    negotiated = _negotiated(
        codec, codec.payload_type, choice.event, choice.event, media, ours,
        _endpoints(offer, index, choice.mux), choice.mux, srtp,
    )
    return answer, negotiated


def _direction_from_answer(offered: str, answered: str) -> str:
    # The answer's direction is the peer's: we receive what it sends.
    sends = _SENDS.get(offered, True) and _RECEIVES.get(answered, False)
    receives = _RECEIVES.get(offered, True) and _SENDS.get(answered, False)
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def _srtp_answered(local_offer: Any, media: Any, config: AudioConfig) -> SRTPParameters | None:
    offered = {c.tag: c for c in usable_attributes(local_offer.attributes.getall("crypto"))}
    answered = media.attributes.getall("crypto")
    secure = media.transport.upper() == "RTP/SAVP" or local_offer.transport.upper() == "RTP/SAVP"
    if not offered:
        if media.transport.upper() == "RTP/SAVP":
            raise _error("the answer asks for SRTP, which we did not offer")
        return None
    if not answered:
        if secure or config.srtp == "mandatory":
            raise _error("the answer has no a=crypto line (SDES-SRTP is required)")
        return None
    if len(answered) != 1:
        raise _error("an answer has exactly one a=crypto line per stream (RFC 4568 7.1.3)")
    usable = usable_attributes(answered)
    if not usable:
        raise _error(f"unusable a=crypto in the answer: {answered[0]!r}")
    remote = usable[0]
    mine = offered.get(remote.tag)
    if mine is None or mine.suite != remote.suite:
        raise _error(f"the answer's a=crypto (tag {remote.tag}, {remote.suite}) was not offered")
    return SRTPParameters(remote.suite, remote.tag, mine.key, remote.key)


def negotiate_answer(
    local_offer: Any, answer: Any, index: int, config: AudioConfig
) -> NegotiatedMedia:
    """What our offered m-line `local_offer` and m-line `index` of `answer` agree on."""
    media = _remote_media(answer, index)
    ours = media_formats(local_offer)
    our_codecs = {f.codec.name: f for f in ours if f.codec is not None}
    theirs = media_formats(media)
    chosen = next(
        (f for f in theirs if f.codec is not None and f.codec.name in our_codecs), None
    )
    if chosen is None:
        raise _error("the answer has no codec that we offered", "Incompatible media format")
    info = chosen.codec
    assert info is not None
    event = None
    local_event = None
    if config.telephone_event:
        event = _telephone_event(theirs, chosen.clock_rate)
        if event is not None:
            local_event = _telephone_event(ours, event.clock_rate)
            if local_event is None or local_event.clock_rate != event.clock_rate:
                event = local_event = None  # an event format we did not offer
    srtp = _srtp_answered(local_offer, media, config)
    mux = "rtcp-mux" in local_offer.attributes and "rtcp-mux" in media.attributes
    endpoints = _endpoints(answer, index, mux)
    direction = _direction_from_answer(
        local_offer.direction or "sendrecv", answer.media_direction(index)
    )
    return _negotiated(
        chosen, our_codecs[info.name].payload_type, event, local_event, media, direction,
        endpoints, mux, srtp,
    )
