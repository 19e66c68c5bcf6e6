"""Bus schema: message shapes, method tables, error codes, protocol version.

Both the facade and every service import this module and nothing else to
agree on the wire format. Encoding is msgpack:

- request: ``{"v": 1, "id": int, "client": str, "method": str, "params": map}``
- reply:   ``{"v": 1, "id": int, "result": any}`` or ``{..., "error": {"code", "message"}}``
- event:   two frames, ``topic`` (the event name) and ``{"name", "sender", "data", "timestamp"}``;
  one message may carry up to `MAX_EVENT_BATCH` events, their pairs of frames one
  after another (what one input to a service caused, in order: one wake-up of each
  side instead of one per event). Subscribers take every topic: a batch's first
  frame names only its first event.

Decoding never raises anything but `BusProtocolError`, whatever the bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

PROTOCOL_VERSION = 1
MAX_MESSAGE_SIZE = 1 << 20  # answered with TOO_LARGE above this
HARD_MESSAGE_LIMIT = 16 << 20  # zmq drops the peer above this (never read into memory)
QUEUE_LIMIT = 100_000  # zmq high-water mark (messages) on every bus socket
MAX_EVENT_BATCH = 32  # events one bus message carries at most

# Start order under supervisord, lowest priority first.
SERVICES: tuple[str, ...] = ("dns", "media", "msrp", "signalling")

HEARTBEAT_INTERVAL = 1.0  # seconds between client heartbeats
CLIENT_TIMEOUT = 6.0  # a client silent this long loses its objects


class ErrorCode(enum.StrEnum):
    BAD_MESSAGE = "bad-message"  # not msgpack, not a map, missing fields
    UNSUPPORTED_VERSION = "unsupported-version"
    TOO_LARGE = "too-large"
    UNKNOWN_METHOD = "unknown-method"
    INVALID_PARAMS = "invalid-params"
    NOT_FOUND = "not-found"  # the object a request names does not exist
    FAILED = "failed"  # the operation ran and failed (e.g. NXDOMAIN)
    TIMEOUT = "timeout"
    INTERNAL = "internal"  # a bug in the service; logged there
    # the request names a client its connection did not prove, or a file
    # outside the directories the service may use
    FORBIDDEN = "forbidden"


class BusProtocolError(Exception):
    """A message on the bus could not be decoded or validated."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Error:
    code: str
    message: str


@dataclass(frozen=True)
class Request:
    id: int
    client: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    id: int
    result: Any = None
    error: Error | None = None


@dataclass(frozen=True)
class Event:
    name: str
    sender: str
    data: Mapping[str, Any]
    timestamp: float


# --- method tables -----------------------------------------------------------

NoneType = type(None)


@dataclass(frozen=True)
class Param:
    name: str
    types: tuple[type, ...]
    required: bool = True


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[Param, ...] = ()

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise BusProtocolError(
                ErrorCode.INVALID_PARAMS, f"{self.name}: unknown parameter(s) {', '.join(unknown)}"
            )
        checked: dict[str, Any] = {}
        for p in self.params:
            if p.name not in params:
                if p.required:
                    raise BusProtocolError(
                        ErrorCode.INVALID_PARAMS, f"{self.name}: missing parameter {p.name!r}"
                    )
                continue
            value = params[p.name]
            # bool is an int subclass; never accept it where an int is asked for
            if not isinstance(value, p.types) or (isinstance(value, bool) and bool not in p.types):
                wanted = " or ".join(t.__name__ for t in p.types)
                raise BusProtocolError(
                    ErrorCode.INVALID_PARAMS,
                    f"{self.name}: parameter {p.name!r} must be {wanted}, "
                    f"not {type(value).__name__}",
                )
            checked[p.name] = value
        return checked


def _methods(*methods: Method) -> dict[str, Method]:
    return {m.name: m for m in methods}


# Every service answers these.
COMMON_METHODS = _methods(
    Method("ping"),
    Method("heartbeat"),
    Method("goodbye"),  # the client is leaving: release its objects now
    # read-only: {descriptors, threads, greenlets, zmq_sockets, rss, clients,
    # objects: {kind: count, client_objects: what the clients own}} (what a soak
    # checks is back to idle)
    Method("resources"),
)

OPT_STR = (str, NoneType)
OPT_NUMBER = (float, int, NoneType)  # used by dns
OPT_INT = (int, NoneType)

METHODS: dict[str, dict[str, Method]] = {
    "dns": _methods(
        # A lookup that ran replies {"lookup_id", "result", "traces"} or, when
        # DNS had no answer, {"lookup_id", "error", "reason", "traces"} with
        # reason "invalid" | "not-found" | "timeout": the traces ride along so
        # the facade can report them before the outcome (events may lag).
        Method(
            "lookup_sip_proxy",
            (
                Param("uri", (str,)),
                Param("supported_transports", (list,)),
                Param("tls_name", OPT_STR, required=False),
                Param("lookup_id", OPT_STR, required=False),
                Param("lifetime", OPT_NUMBER, required=False),
            ),
        ),
        Method(
            "lookup_msrp_relay",
            (
                Param("uri", (str,)),
                Param("lookup_id", OPT_STR, required=False),
                Param("lifetime", OPT_NUMBER, required=False),
                Param("transport", OPT_STR, required=False),  # tls (default) or tcp
            ),
        ),
        *(
            Method(
                name,
                (
                    Param("uri", (str,)),
                    Param("lookup_id", OPT_STR, required=False),
                    Param("lifetime", OPT_NUMBER, required=False),
                ),
            )
            for name in ("lookup_stun_server", "lookup_xcap_server")
        ),
        Method("get_nameservers"),
        Method(
            "set_nameservers",
            (
                Param("nameservers", (list, NoneType)),
                Param("fallback_nameservers", (list, NoneType), required=False),
            ),
        ),
        Method("probe_nameservers"),
    ),
    # RTP audio (see docs/media.md). Objects live in the service and are named
    # by ids; audio never crosses the bus. Every port (stream, player,
    # recorder, device) belongs to the conference mixer of its `mixer_id`
    # ("voice" or "alert", made at start) and hears the ports connected to it.
    "media": _methods(
        # -> {"stream_id", "address", "rtp_port", "rtcp_port", "instance"}: ports from
        # the range, the worker's instance id. stream_id: the client's choice (32 hex
        # digits; asked again, the same reply; ended before made, never made).
        Method("create_stream", (
            Param("address", (str,)),  # local IP to bind (the session's)
            Param("mixer_id", OPT_STR, required=False),  # default "voice"
            Param("stream_id", OPT_STR, required=False),
        )),
        # new sockets on another local address (the host's changed) -> create_stream's
        # reply and "ice": whether ICE gathers again (media.ice_gathered follows)
        Method("rebind_stream", (Param("stream_id", (str,)), Param("address", (str,)))),
        # the negotiated parameters: dataclasses.asdict() of
        # sipsimple.streams.rtp.NegotiatedMedia (field names as keys, srtp a
        # dict or None). start_stream and update_stream take the same;
        # relearn: after a new offer/answer (not a local hold), the peer's
        # address may be learnt again (docs/media.md, symmetric RTP).
        Method("start_stream", (Param("stream_id", (str,)), Param("media", (dict,)))),
        Method("update_stream", (
            Param("stream_id", (str,)), Param("media", (dict,)),
            Param("relearn", (bool,), required=False),
        )),
        Method("end_stream", (Param("stream_id", (str,)),)),  # -> final stats
        Method("send_dtmf", (Param("stream_id", (str,)), Param("digit", (str,)))),
        Method("stream_stats", (Param("stream_id", (str,)),)),
        Method("set_mute", (Param("stream_id", (str,)), Param("muted", (bool,)))),
        # ICE on the stream's sockets (docs/nat.md). ice_gather: stun_servers
        # [[ip, port], ...], turn_server {host (an IP), port, username, password};
        # relay_only: relayed candidates only. The result comes as media.ice_gathered.
        Method("ice_gather", (
            Param("stream_id", (str,)),
            Param("stun_servers", (list, NoneType), required=False),
            Param("turn_server", (dict, NoneType), required=False),
            Param("relay_only", (bool,), required=False),
        )),
        # the peer's a=ice-ufrag, a=ice-pwd and a=candidate values; controlling:
        # we offered (or the peer is ice-lite). Again with the same credentials:
        # new candidates only; new ones need ice_restart first.
        Method("ice_start", (
            Param("stream_id", (str,)), Param("controlling", (bool,)),
            Param("ufrag", (str,)), Param("pwd", (str,)), Param("candidates", (list,)),
            Param("rtcp_mux", (bool,), required=False),
        )),
        Method("ice_plain", (Param("stream_id", (str,)),)),  # the peer has no ICE
        # new local credentials, candidates kept -> {ufrag, pwd, candidates, default}
        Method("ice_restart", (Param("stream_id", (str,)),)),
        # ports of the mixer: kind "player" {filename, loop, volume?} | "tone"
        # {frequencies [hz, ...], duration?, volume?} | "recorder" {filename} ->
        # {"port_id"}; a stream's port_id is its stream_id, the devices' are
        # "<mixer_id>-device". A recorder with no source connected writes nothing
        # (AudioStream disconnects its recorder on hold: the document records
        # nothing while on hold).
        # port_id: the client's choice ("<kind>-" and 16 to 32 hex digits), as stream_id
        Method("create_port", (
            Param("kind", (str,)), Param("params", (dict,)),
            Param("mixer_id", OPT_STR, required=False),
            Param("port_id", OPT_STR, required=False),
        )),
        Method("destroy_port", (Param("port_id", (str,)),)),
        Method("owned"),  # -> {"streams": [ids], "ports": [ids]}: the asking client's
        # audio of `source` goes to `sink` (one way); bridges are made of these.
        # A stream may be its own sink: an echo (`sipsimple answer --echo`).
        Method("connect_ports", (Param("source", (str,)), Param("sink", (str,)))),
        Method("disconnect_ports", (Param("source", (str,)), Param("sink", (str,)))),
        Method("list_devices"),  # -> {"input": [...], "output": [...], "default": {...}}
        # None or "system_default" names the default; a missing one falls back to null
        Method("set_devices", (
            Param("input_device", OPT_STR), Param("output_device", OPT_STR),
            Param("alert_device", OPT_STR, required=False),
        )),
        # rtp.port_range and rtp.timeout of the settings (not "timeout": that
        # name is BusClient.call's own keyword)
        # directories: absolute paths where players and recorders may open files,
        # besides the state directory and the service's SIPSIMPLE_MEDIA_DIRECTORIES
        # (replaces those sent before); a file elsewhere is refused ("forbidden")
        Method("configure", (
            Param("port_range", (list, NoneType), required=False),
            Param("rtp_timeout", OPT_INT, required=False),
            Param("directories", (list, NoneType), required=False),
        )),
        # A STUN probe of the NAT in front of `address` (default: the local IP
        # towards the server), RFC 5780 when the server names an OTHER-ADDRESS,
        # else the mappings seen by `second_server` compared (docs/nat.md). IP
        # addresses only. -> {local, server, mapped ([ip, port] or None: no
        # answer), other_address, mapping, filtering, method (rfc5780 | rfc3489
        # | single), nat_type (the original SDK's names), error}
        Method("nat_probe", (
            Param("server", (str,)), Param("port", OPT_INT, required=False),
            Param("second_server", OPT_STR, required=False),
            Param("second_port", OPT_INT, required=False),
            Param("address", OPT_STR, required=False),
        )),
    ),
    # MSRP sessions over TCP or TLS, direct or through a relay (docs/msrp.md). A
    # session is made first (its path goes in the SDP), started once the peer's
    # path is known.
    "msrp": _methods(
        # -> {"session_id", "path" (our MSRP URI), "address", "port"}: the
        # listener of `address` (one per address, shared by its sessions)
        # tls: True msrps (the service needs a certificate), False msrp, None
        # (default) msrps when the service has a certificate; -> also {"tls"}
        # relay: {"uri", "username", "password"} (RFC 4976): the session connects
        # and AUTHs there first; "path" is then our whole a=path (relay hops first)
        Method("create_session", (Param("address", (str,)),
                                  Param("tls", (bool, NoneType), required=False),
                                  Param("relay", (dict, NoneType), required=False))),
        # remote_path: the peer's a=path URIs; active: we connect (RFC 6135
        # a=setup), else we wait for the peer's connection; accept_types: what
        # the session takes (415 for the rest), default "*"
        Method("start_session", (
            Param("session_id", (str,)), Param("remote_path", (list,)),
            Param("active", (bool,)), Param("accept_types", (list, NoneType), required=False),
        )),
        # -> {"message_id"}; queued when the connection is not up yet.
        # failure_report: "yes" (default) | "partial" | "no"
        Method("send_message", (
            Param("session_id", (str,)), Param("content_type", (str,)), Param("body", (bytes,)),
            Param("message_id", OPT_STR, required=False),
            Param("success_report", (bool,), required=False),
            Param("failure_report", (str,), required=False),
        )),
        # Files (RFC 5547; docs/msrp.md) are read and written only inside the
        # service's directories (state directory, SIPSIMPLE_MSRP_DIRECTORIES) and
        # those this client configured (absolute; they replace those it sent
        # before); a path elsewhere is refused ("forbidden").
        # The TLS settings (tls.certificate: one PEM file with its key, tls.ca_list,
        # tls.verify_server); None keeps a value (directories None: unchanged).
        # -> {"directories", "tls": can serve msrps, "tls_error": why TLS is off
        # (its files do not load) or None}
        Method("configure", (
            Param("directories", (list, NoneType), required=False),
            Param("tls_certificate", OPT_STR, required=False),
            Param("tls_private_key", OPT_STR, required=False),
            Param("tls_ca_file", OPT_STR, required=False),
            Param("tls_verify_server", (bool, NoneType), required=False),
        )),
        # -> {size, hash (20 bytes SHA-1), name}
        Method("hash_file", (Param("path", (str,)),)),
        # -> {"message_id"}: the file is read as it goes, never whole in memory
        Method("send_file", (
            Param("session_id", (str,)), Param("path", (str,)),
            Param("content_type", (str,), required=False),
            Param("message_id", OPT_STR, required=False),
            # resume (RFC 5547 8.2): the bytes before it are the peer's already
            Param("offset", OPT_INT, required=False),
        )),
        # the next file the peer sends (of content_type, default "*") goes into
        # `directory` under a safe unique form of `name`, checked against
        # size and hash (None: not checked)
        Method("receive_file", (
            Param("session_id", (str,)), Param("directory", (str,)), Param("name", (str,)),
            Param("size", OPT_INT, required=False),
            Param("hash", (bytes, NoneType), required=False),
            Param("content_type", (str,), required=False),
            # resume: the partial file a file_failed event named, continued
            Param("partial", OPT_STR, required=False),
            # also publish the bytes (msrp.file_data), for an application that asks
            Param("content", (bool,), required=False),
        )),
        # -> {"partial", "received"}: what an interrupted transfer of this file
        # (size, SHA-1) kept in `directory` (None, 0: nothing), to resume from
        Method("find_partial", (Param("directory", (str,)), Param("size", (int,)),
                                Param("hash", (bytes,)))),
        # Desktop sharing with an external VNC viewer or server (docs/msrp.md): the
        # RFB bytes go between a TCP socket and the session inside the service.
        # -> {"listener_id", "address", "port"}: a socket for one VNC viewer
        Method("splice_listen", (Param("address", (str,)), Param("port", (int,), required=False))),
        Method("splice_close", (Param("listener_id", (str,)),)),  # an unused one
        # before start_session; mode "viewer" (listener_id) or "server" (host,
        # port); the TCP side within `connect_timeout` s of the MSRP connection
        Method("splice_session", (
            Param("session_id", (str,)), Param("mode", (str,)),
            Param("connect_timeout", (float, int), required=False),
            Param("listener_id", OPT_STR, required=False),
            Param("host", OPT_STR, required=False), Param("port", OPT_INT, required=False),
        )),
        Method("end_session", (Param("session_id", (str,)),)),
        # NICKNAME (RFC 7701) -> {"transaction_id"} (the one given, else a new one);
        # the answer comes as msrp.nickname_answered
        Method("send_nickname", (
            Param("session_id", (str,)), Param("nickname", (str,)),
            Param("transaction_id", OPT_STR, required=False),
        )),
        # the answer to the peer's NICKNAME (msrp.nickname_received), e.g. 200 or 425
        Method("answer_nickname", (
            Param("session_id", (str,)), Param("transaction_id", (str,)),
            Param("code", (int,)), Param("reason", OPT_STR, required=False),
        )),
        # -> {"enabled"}: msrp.transport_traced for this client's sessions and
        # msrp.log, until turned off or the client goes away
        Method("set_trace", (Param("enabled", (bool,)),)),
        # read-only: {"listeners": [{address, port}], "tls", "tls_error", "sessions":
        # [{session_id, client, path, state, active}]}
        Method("status"),
    ),
    "signalling": _methods(
        # Unnamed settings keep their value; the reply is get_transports'.
        Method(
            "configure",
            (
                Param("transports", (list, NoneType), required=False),
                Param("host", OPT_STR, required=False),
                Param("udp_port", OPT_INT, required=False),
                Param("tcp_port", OPT_INT, required=False),
                Param("tls_port", OPT_INT, required=False),
                Param("tls_certificate", OPT_STR, required=False),
                Param("tls_private_key", OPT_STR, required=False),
                Param("tls_ca_file", OPT_STR, required=False),
                Param("tls_verify_server", (bool, NoneType), required=False),
            ),
        ),
        # -> {host, transports, udp, tcp, tls (bound ports or None), tls_error}:
        # tls_error says why TLS is off when its files do not load (bad CA
        # file, certificate without its key); None when TLS is usable
        Method("get_transports"),
        # Read-only: {"accounts": [{aor, client, options}], "registrations":
        # [{registration_id, aor, registrar, state, expires, contact, client}],
        # "sessions": [{session_id, call_id, state, local, remote, direction,
        # transport, client}], "subscriptions": [{subscription_id, event, state,
        # local, remote, direction, client}], "transports": [{transport, host, port}],
        # "tls_error": why TLS is off, or None}.
        Method("status"),
        # The client answers for the account: MESSAGE is delivered to it, and
        # with options=True OPTIONS too; released when the client goes away.
        # any_user: also take new INVITEs for users no account claim matches
        Method("claim_account", (Param("aor", (str,)), Param("options", (bool,), required=False),
                                 Param("any_user", (bool,), required=False))),
        Method("release_account", (Param("aor", (str,)),
                                   Param("any_user", (bool,), required=False))),
        # route: {"host", "port", "transport" (udp|tcp|tls), "tls_name"?};
        # response_timeout (s) bounds the wait (a local 408 after it). Both
        # reply with the final response {"code", "reason", "headers": [[name,
        # value]], "body", "call_id", "local", "error"} once the transaction ends.
        Method(
            "send_options",
            (
                Param("uri", (str,)),
                Param("route", (dict,)),
                Param("headers", (list, NoneType), required=False),
                Param("from_uri", OPT_STR, required=False),
                Param("response_timeout", OPT_NUMBER, required=False),
            ),
        ),
        Method(
            "send_message",
            (
                Param("from_uri", (str,)),
                Param("to_uri", (str,)),
                Param("route", (dict,)),
                Param("content_type", (str,)),
                Param("body", (bytes,)),
                # {"username", "password", "realm"?, "allow_md5"?, "allow_qopless"?}
                Param("credentials", (dict, NoneType), required=False),
                Param("headers", (list, NoneType), required=False),
                Param("uri", OPT_STR, required=False),  # Request-URI; default to_uri
                Param("response_timeout", OPT_NUMBER, required=False),
                # the display names of From and To
                Param("display_name", OPT_STR, required=False),
                Param("to_display_name", OPT_STR, required=False),
            ),
        ),
        # Answer a request delivered with "answered": None (server_key from
        # signalling.request_received; only the client it was delivered to
        # may); 1xx first is allowed. A MESSAGE is always delivered so: the
        # client answers 200 once an application took it, and the service 480
        # if the client does not within 20 s or goes away.
        Method(
            "respond",
            (
                Param("server_key", (str,)),
                Param("code", (int,)),
                Param("reason", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
                Param("body", (bytes, NoneType), required=False),
            ),
        ),
        Method("set_trace", (Param("enabled", (bool,)),)),
        # INVITE sessions (events signalling.session_*): the session belongs
        # to the client that made it, or to the one that claimed the account
        # an incoming INVITE is for. Bodies are bytes; content_type defaults
        # to application/sdp for a body of an INVITE or its answers.
        Method(
            "invite",  # -> {"session_id", "call_id"}
            (
                Param("from_uri", (str,)),
                Param("to_uri", (str,)),
                Param("route", (dict,)),  # as send_options
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
                Param("credentials", (dict, NoneType), required=False),
                Param("display_name", OPT_STR, required=False),
                Param("contact_user", OPT_STR, required=False),
                # Contact header parameters, {"isfocus": None} -> ;isfocus (RFC 4579)
                Param("contact_params", (dict, NoneType), required=False),
            ),
        ),
        Method("ring", (Param("session_id", (str,)),)),  # 180
        Method(
            "provisional",
            (
                Param("session_id", (str,)),
                Param("code", (int,)),
                Param("reason", OPT_STR, required=False),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
            ),
        ),
        Method(
            "accept",
            (
                Param("session_id", (str,)),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
                Param("contact_params", (dict, NoneType), required=False),  # as invite's
                # for requests we send in the dialog, when a proxy challenges them
                Param("credentials", (dict, NoneType), required=False),
            ),
        ),
        Method(
            "reject",
            (
                Param("session_id", (str,)),
                Param("code", (int,)),
                Param("reason", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
            ),
        ),
        # the answer to an offer that came in a 2xx: sent in the ACK
        Method(
            "answer",
            (
                Param("session_id", (str,)),
                Param("body", (bytes,)),
                Param("content_type", OPT_STR, required=False),
            ),
        ),
        # A re-INVITE, and accept_reinvite's 200, are target refreshes (RFC 3261 12.2):
        # their Contact is on the address the service uses now towards the peer
        # (unchanged while that is the dialog's), so the peer's later requests come there.
        Method(
            "reinvite",
            (
                Param("session_id", (str,)),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
            ),
        ),
        # CANCEL our re-INVITE in progress (once a 1xx came, RFC 3261 9.1), or drop
        # its glare retry; nothing when it was answered already. Outcome:
        # session_reinvite_rejected 487, or, if a 2xx crossed the CANCEL, the usual
        # session_answer (session_offer for a body-less one): the re-INVITE succeeded.
        Method("cancel_reinvite", (Param("session_id", (str,)),)),
        Method(
            "accept_reinvite",
            (
                Param("session_id", (str,)),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
            ),
        ),
        Method(
            "reject_reinvite",
            (
                Param("session_id", (str,)),
                Param("code", (int,), required=False),
                Param("reason", OPT_STR, required=False),
                Param("warning", OPT_STR, required=False),  # text of a 399 Warning
            ),
        ),
        # CANCEL, BYE or 480 as the state needs; a Reason header when given
        Method(
            "end",
            (
                Param("session_id", (str,)),
                Param("reason_code", OPT_INT, required=False),
                Param("reason_text", OPT_STR, required=False),
            ),
        ),
        # INFO, MESSAGE, REFER, NOTIFY, OPTIONS in the dialog -> {"request_id"};
        # the final response comes as signalling.session_response
        Method(
            "session_request",
            (
                Param("session_id", (str,)),
                # not "method": that name is BusClient.call's own parameter
                Param("request_method", (str,)),
                Param("headers", (list, NoneType), required=False),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
            ),
        ),
        # answer a signalling.session_request (its server_key)
        Method(
            "session_respond",
            (
                Param("session_id", (str,)),
                Param("server_key", (str,)),
                Param("code", (int,)),
                Param("reason", OPT_STR, required=False),
                Param("headers", (list, NoneType), required=False),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
            ),
        ),
        # registrations (events signalling.registration_*), owned by the caller
        Method(
            "register",  # -> {"registration_id"}
            (
                Param("aor", (str,)),
                Param("registrar", (dict,)),  # {host, port, transport}, as a route
                Param("expires", OPT_INT, required=False),
                Param("credentials", (dict, NoneType), required=False),
                Param("instance_id", OPT_STR, required=False),
                Param("contact_user", OPT_STR, required=False),
            ),
        ),
        Method("unregister", (Param("registration_id", (str,)),)),
        # subscriptions, both sides (events signalling.subscription_*)
        Method(
            "subscribe",  # -> {"subscription_id"}
            (
                Param("from_uri", (str,)),
                Param("to_uri", (str,)),
                Param("event", (str,)),
                Param("route", (dict,)),
                Param("accept", (list, NoneType), required=False),
                Param("expires", OPT_INT, required=False),
                Param("credentials", (dict, NoneType), required=False),
            ),
        ),
        Method("unsubscribe", (Param("subscription_id", (str,)),)),
        Method(
            "accept_subscription",
            (
                Param("subscription_id", (str,)),
                Param("body", (bytes, NoneType), required=False),
                Param("content_type", OPT_STR, required=False),
                Param("state", OPT_STR, required=False),
                Param("expires", OPT_INT, required=False),
            ),
        ),
        Method(
            "reject_subscription",
            (
                Param("subscription_id", (str,)),
                Param("code", OPT_INT, required=False),
                Param("reason", OPT_STR, required=False),
            ),
        ),
        Method(
            "notify",
            (
                Param("subscription_id", (str,)),
                Param("body", (bytes,)),
                Param("content_type", (str,)),
                Param("state", OPT_STR, required=False),
            ),
        ),
        Method(
            "end_subscription",
            (
                Param("subscription_id", (str,)),
                Param("reason", OPT_STR, required=False),
            ),
        ),
        # REFER in a session (events signalling.transfer_*) -> {"transfer_id"}
        Method(
            "refer",
            (
                Param("session_id", (str,)),
                Param("refer_to", (str,)),
                Param("referred_by", OPT_STR, required=False),
            ),
        ),
        # a REFER we got (signalling.transfer_incoming): 202 and NOTIFY "100 Trying"
        Method(
            "accept_transfer",
            (Param("session_id", (str,)), Param("transfer_id", (str,))),
        ),
        # refuse it (code 300..699, default 486)
        Method(
            "reject_transfer",
            (
                Param("session_id", (str,)),
                Param("transfer_id", (str,)),
                Param("code", OPT_INT, required=False),
                Param("reason", OPT_STR, required=False),
            ),
        ),
        # the new call's progress as a NOTIFY sipfrag; a final code (>= 200) ends it
        Method(
            "transfer_progress",
            (
                Param("session_id", (str,)),
                Param("transfer_id", (str,)),
                Param("code", (int,)),
                Param("reason", OPT_STR, required=False),
            ),
        ),
    ),
}


def method_for(service: str, name: str, table: dict[str, Method] | None = None) -> Method:
    """The method `name` of `service`; `table` replaces the service's entry in METHODS."""
    methods = METHODS.get(service, {}) if table is None else table
    method = COMMON_METHODS.get(name) or methods.get(name)
    if method is None:
        raise BusProtocolError(ErrorCode.UNKNOWN_METHOD, f"{service}: unknown method {name!r}")
    return method


# --- events ------------------------------------------------------------------

# Event names are "<service>.<what>", distinct from the facade's notification
# names, which the facade posts after mapping senders to its own objects.
EVENTS: dict[str, frozenset[str]] = {
    "dns": frozenset({"dns.trace", "dns.nameservers_changed"}),
    "media": frozenset({
        # every one has the id of the object it is about ({stream_id} or {port_id})
        "media.stream_started",  # {stream_id, codec, srtp}
        "media.stream_rtp_changed",  # {stream_id, address, port}: the peer's address learnt
        "media.stream_dtmf",  # {stream_id, digit, duration_ms}
        "media.stream_timeout",  # {stream_id, seconds}: nothing received for rtp.timeout
        "media.stream_stats",  # {stream_id, ...counters}: at most once a second
        "media.stream_failed",  # {stream_id, reason}
        "media.stream_ended",  # {stream_id, stats}
        # {stream_id, ufrag, pwd, candidates [a=candidate values], default {address,
        # port, rtcp_address, rtcp_port, type}, failures} or {stream_id, error}
        "media.ice_gathered",
        # the checks' events have the link's local ufrag: a moved or restarted
        # stream's facade drops those of the link it replaced
        "media.ice_state",  # {stream_id, ufrag, prev_state, state}: the original SDK's names
        # {stream_id, ufrag, duration, local_candidates, remote_candidates, valid_pairs,
        # valid_list, chosen}: candidates {component, type, address, port, priority,
        # rel_addr}, pairs {local_candidate, remote_candidate, state, nominated}
        "media.ice_succeeded",
        "media.ice_failed",  # {stream_id, ufrag, reason}
        "media.port_done",  # {port_id}: a player reached the end of its file
        "media.devices_changed",  # {input, output, alert}: e.g. a fallback to null
    }),
    # every one has {session_id, client}
    "msrp": frozenset({
        # {tls_error}: TLS went off (why) or back on (None) after a settings change
        "msrp.tls_changed",
        "msrp.session_started",  # {active}: the connection is up (bound)
        "msrp.message_received",  # {message_id, content_type, body (bytes)}
        # {message_id, code, reason}: a success REPORT, or the 200 when no
        # report was asked
        "msrp.message_delivered",
        "msrp.message_failed",  # {message_id, code, reason}: a response, REPORT or local 408
        "msrp.session_failed",  # {reason}: connection refused, lost, or garbage received
        "msrp.session_ended",  # {reason}: end_session, or the client went away
        # {message_id, transferred, total}: a few per second at most, both sides
        "msrp.file_progress",
        "msrp.file_data",  # {message_id, offset, data}: only with receive_file(content=True)
        "msrp.file_received",  # {message_id, path, size, content_type}: checked, final name
        # {message_id, reason, partial, received}: nothing kept under a final
        # name; an interrupted transfer keeps its `partial` file (None if not)
        # with `received` bytes, to resume with receive_file(partial=...)
        "msrp.file_failed",
        # while the session's client traces (set_trace): {direction: incoming |
        # outgoing, data: str}, what one read or write carried (cut at 16 KiB)
        "msrp.transport_traced",
        # RFC 7701: {transaction_id, nickname}, the peer's NICKNAME for the client to
        # answer (answer_nickname); {transaction_id, code, reason}, the answer to ours
        # (408: none came)
        "msrp.nickname_received",
        "msrp.nickname_answered",
        # while any client traces: {level (DEBUG...CRITICAL), message}; session_id
        # and client are None
        "msrp.log",
        # desktop sharing (splice_session): {address: [host, port]}: the VNC peer's
        "msrp.splice_connected",
        # {context: connecting|reading|sending, reason}: the TCP side is closed
        "msrp.splice_failed",
    }),
    "signalling": frozenset({
        # {method, request_uri, headers, body, server_key, source, account, client,
        # answered}: a request for an account `client` claimed; answered None
        # (always for MESSAGE) means that client must `respond`
        "signalling.request_received",
        # {originator: local|remote, method, code, reason, call_id}; while tracing is on
        "signalling.transaction_completed",
        # {direction: in|out, transport, source, destination, message, timestamp}
        "signalling.message_traced",
        # {tls_error}: TLS went off (why) or back on (None) after a settings change
        "signalling.tls_changed",
        # INVITE sessions; every one has {session_id, client, ...}:
        # incoming {call_id, from, to, request_uri, headers, body, content_type,
        #   source {host, port, transport}, replaces, replaced_session_id (the
        #   client's session the Replaces names; an INVITE replacing nothing got
        #   400/481/486/603 already), remote_contact, remote_contact_params,
        #   account (the AOR of the claim it was given to: a catch-all claim's
        #   for a call to a user nobody claimed)}
        "signalling.session_incoming",
        # an INVITE the service refused itself (nobody claims its user: 480, ...):
        # {call_id, from, to, request_uri, source, code, reason}
        "signalling.incoming_refused",
        # {old, new}: only when the session becomes connected (again) or terminated
        "signalling.session_state",
        "signalling.session_provisional",  # {code, reason, headers, body, content_type}
        # {local_body, remote_body, remote_contact, remote_contact_params ({name:
        #   value|None}, wire form), remote_user_agent, headers, transport,
        #   local_tag, remote_tag}
        "signalling.session_established",
        "signalling.session_offer",  # {body, headers}
        "signalling.session_offer_requested",  # {headers}
        "signalling.session_answer",  # {body}
        "signalling.session_reinvite_rejected",  # {code, reason, headers}
        "signalling.session_reinvite_retry",  # {delay}
        "signalling.session_reinvite_cancelled",  # {}: the peer CANCELled its re-INVITE
        "signalling.session_ended",  # {originator, code, reason, reason_header}
        "signalling.session_failed",  # {originator, code, reason, headers}
        # every completed transaction: {originator, method, code, reason, ack_received}
        "signalling.session_transaction",
        "signalling.session_request",  # {method, headers, body, content_type, server_key}
        "signalling.session_response",  # {request_id, method, code, reason, headers, body}
        # registrations; every one has {registration_id, client}
        "signalling.registration_succeeded",  # {expires, contact, contacts}
        "signalling.registration_failed",  # {code, reason, retry_after}
        "signalling.registration_ended",  # {code, reason}
        # subscriptions, both sides; every one has {subscription_id, client}
        "signalling.subscription_started",  # {expires}
        "signalling.subscription_notify",  # {state, reason, body, content_type, headers}
        "signalling.subscription_retry",  # {delay, reason}
        "signalling.subscription_ended",  # {originator, reason}
        "signalling.subscription_failed",  # {code, reason}
        # {event, from, to, request_uri, headers, body, source, expires}
        "signalling.subscription_incoming",
        "signalling.subscription_refreshed",  # {expires}
        "signalling.subscription_notify_response",  # {code, reason}
        # transfers; every one has {transfer_id, session_id, client}
        # a REFER we got: {refer_to, referred_by, replaces, headers}
        "signalling.transfer_incoming",
        # REFERs we sent:
        "signalling.transfer_accepted",  # {code}
        "signalling.transfer_failed",  # {code, reason}
        "signalling.transfer_progress",  # {code, reason}
        # both kinds, the last event of every transfer not refused or failed: its
        # final NOTIFY was received (REFERs we sent) or answered (REFERs we got), a
        # NOTIFY failed, or the session ended; {code, reason}: the last sipfrag status
        # received or reported (0 and "" if none)
        "signalling.transfer_ended",
    }),
}
COMMON_EVENTS = frozenset({"service.started", "service.stopping", "service.client_expired"})


# --- encoding ----------------------------------------------------------------


def _packb(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def _reject_ext(code: int, data: bytes) -> Any:
    raise BusProtocolError(ErrorCode.BAD_MESSAGE, f"msgpack extension type {code} not allowed")


def _unpack_map(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_SIZE:
        raise BusProtocolError(
            ErrorCode.TOO_LARGE, f"{what} of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}"
        )
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except BusProtocolError:
        raise
    except Exception as exc:  # msgpack raises many types for bad input
        raise BusProtocolError(
            ErrorCode.BAD_MESSAGE, f"{what} is not valid msgpack: {exc}"
        ) from None
    if not isinstance(obj, dict):
        raise BusProtocolError(ErrorCode.BAD_MESSAGE, f"{what} is not a map")
    return obj


def _field(obj: Mapping[str, Any], name: str, types: tuple[type, ...], what: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise BusProtocolError(ErrorCode.BAD_MESSAGE, f"{what} field {name!r} missing or mistyped")
    return value


def encode_request(request: Request) -> bytes:
    return _packb(
        {
            "v": PROTOCOL_VERSION,
            "id": request.id,
            "client": request.client,
            "method": request.method,
            "params": dict(request.params),
        }
    )


def decode_request(data: bytes) -> Request:
    obj = _unpack_map(data, "request")
    version = obj.get("v")
    if version != PROTOCOL_VERSION:
        raise BusProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version!r} not supported (this side speaks {PROTOCOL_VERSION})",
        )
    return Request(
        id=_field(obj, "id", (int,), "request"),
        client=_field(obj, "client", (str,), "request"),
        method=_field(obj, "method", (str,), "request"),
        params=_field(obj, "params", (dict,), "request"),
    )


def request_id_of(data: bytes) -> int | None:
    """Best effort: the id of an undecodable request, so its error reply can match."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False) if len(data) < 4096 else None
    except Exception:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def encode_reply(reply: Reply) -> bytes:
    obj: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": reply.id}
    if reply.error is not None:
        obj["error"] = {"code": reply.error.code, "message": reply.error.message}
    else:
        obj["result"] = reply.result
    return _packb(obj)


def decode_reply(data: bytes) -> Reply:
    obj = _unpack_map(data, "reply")
    reply_id = obj.get("id")
    if reply_id is not None and (not isinstance(reply_id, int) or isinstance(reply_id, bool)):
        raise BusProtocolError(ErrorCode.BAD_MESSAGE, "reply field 'id' mistyped")
    error = obj.get("error")
    if error is not None:
        code = _field(error, "code", (str,), "error") if isinstance(error, dict) else None
        message = _field(error, "message", (str,), "error") if isinstance(error, dict) else None
        if code is None or message is None:
            raise BusProtocolError(ErrorCode.BAD_MESSAGE, "reply field 'error' mistyped")
        return Reply(id=reply_id if reply_id is not None else -1, error=Error(code, message))
    return Reply(id=reply_id if reply_id is not None else -1, result=obj.get("result"))


def encode_event(event: Event) -> list[bytes]:
    payload = _packb(
        {
            "name": event.name,
            "sender": event.sender,
            "data": dict(event.data),
            "timestamp": event.timestamp,
        }
    )
    return [event.name.encode(), payload]


def decode_event(frames: list[bytes]) -> Event:
    if len(frames) != 2:
        raise BusProtocolError(ErrorCode.BAD_MESSAGE, f"event has {len(frames)} frames, not 2")
    obj = _unpack_map(frames[1], "event")
    return Event(
        name=_field(obj, "name", (str,), "event"),
        sender=_field(obj, "sender", (str,), "event"),
        data=_field(obj, "data", (dict,), "event"),
        timestamp=_field(obj, "timestamp", (float, int), "event"),
    )


def encode_events(events: Sequence[Event]) -> list[bytes]:
    """Several events as one message: each event's two frames, in order (one event
    gives `encode_event`'s frames)."""
    if not 0 < len(events) <= MAX_EVENT_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_EVENT_BATCH} events, not {len(events)}")
    frames: list[bytes] = []
    for event in events:
        frames += encode_event(event)
    return frames


def decode_events(frames: Sequence[bytes]) -> list[Event | BusProtocolError]:
    """Each event of a message, or the error that kept it from decoding: one bad event
    does not cost the others. Raises `BusProtocolError` if the frames are no batch."""
    if not frames or len(frames) % 2 or len(frames) > 2 * MAX_EVENT_BATCH:
        raise BusProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"an event message has 2 to {2 * MAX_EVENT_BATCH} frames in pairs, "
            f"not {len(frames)}")
    events: list[Event | BusProtocolError] = []
    for index in range(0, len(frames), 2):
        try:
            events.append(decode_event(list(frames[index:index + 2])))
        except BusProtocolError as exc:
            events.append(exc)
    return events


def error_reply(request_id: int, code: ErrorCode | str, message: str) -> bytes:
    return encode_reply(Reply(id=request_id, error=Error(str(code), message)))
