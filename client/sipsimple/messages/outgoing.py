"""`Message`: one page-mode MESSAGE (RFC 3428) sent through the signalling service.

As the original SDK's ``sipsimple.core.Message``: built with the From, To,
route, content type and body (plus credentials and extra headers), sent once
with `send(timeout)`; the outcome is ``SIPMessageDidSucceed`` (a 2xx) or
``SIPMessageDidFail`` (anything else), sender the Message, data ``code``,
``reason``, ``originator`` ("remote" for a response, "local" when no response
came: a transport error, a timeout, the service not answering), ``headers``
(the response's, [name, value] pairs) and ``timestamp``.

The route is a `Route` (a `DNSLookup.lookup_sip_proxy` result), a list of
them (tried in order while they fail locally, RFC 3263 section 4.3), or a
`RouteHeader` (the original SDK's form): an IP address is used as it is, a
host name is looked up when sent (RFC 3263 through `DNSLookup`, in the
``sip.transport_list`` order), and its routes are tried in order.
Digest challenges (401/407) are answered by the service with `credentials`.

With ``use_cpim`` the body goes wrapped in Message/CPIM (RFC 3862) with From,
To and DateTime; ``dispositions`` (positive-delivery, negative-delivery,
display, processing) then ask for IMDN notifications (RFC 5438) under
``message_id``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sipsimple.bus.client import BusError, BusFuture, get_bus
from sipsimple.configuration.datatypes.network import is_ip_address
from sipsimple.core import SIPURI, Route
from sipsimple.core.headers import ContentTypeHeader, FromHeader, RouteHeader, ToHeader
from sipsimple.notification import NotificationCenter, NotificationData

from .content import CPIM_CONTENT_TYPE, new_message_id, wrap_cpim

__all__ = ["Message"]

DEFAULT_TIMEOUT = 40.0  # the service's: longer than Timer F (32 s)
AUTH_ATTEMPTS = 4  # the service answers at most this many challenges per request
LOCAL_FAILOVER = frozenset({408, 503})  # local failures that say the route is unusable
DNS_TIMEOUT = 15.0



def _routes(route_header: Any) -> list[Route] | SIPURI:
    """The routes to try, or the URI to look them up for (RFC 3263)."""
    if isinstance(route_header, Route):
        return [route_header]
    if isinstance(route_header, RouteHeader):
        uri = route_header.uri
        if not isinstance(uri, SIPURI):
            raise ValueError(f"a route must be a SIP URI, not {uri}")
        if not is_ip_address(uri.host):
            return uri
        transport = str(uri.parameters.get("transport") or ("tls" if uri.secure else "udp"))
        port = uri.port or (5061 if transport == "tls" else 5060)
        return [Route(uri.host.strip("[]"), port, transport.lower())]
    if isinstance(route_header, Iterable) and not isinstance(route_header, str | bytes):
        routes = [item for item in route_header]
        if routes and all(isinstance(item, Route) for item in routes):
            return routes
    raise TypeError("route_header must be a Route, a list of Routes or a RouteHeader")


def _lookup(uri: SIPURI) -> list[Route]:
    """RFC 3263 through the DNS service, in the application's transport order."""
    from sipsimple.lookup import DNSLookup

    transports = ["tls", "tcp", "udp"]
    with contextlib.suppress(Exception):  # no configuration running: the default order
        from sipsimple.configuration.settings import SIPSimpleSettings

        transports = [str(t) for t in SIPSimpleSettings().sip.transport_list]
    routes: list[Route] = DNSLookup().lookup_sip_proxy(uri, transports).wait(DNS_TIMEOUT)
    return routes


def _credentials(credentials: Any) -> dict[str, Any] | None:
    if credentials is None or isinstance(credentials, dict):
        return credentials
    to_bus = getattr(credentials, "to_bus", None)
    if to_bus is None:
        raise TypeError("credentials must be Credentials (sipsimple.account) or a dict")
    data: dict[str, Any] = to_bus()
    return data


class Message:
    def __init__(
        self,
        from_header: FromHeader,
        to_header: ToHeader,
        route_header: Route | Sequence[Route] | RouteHeader,
        content_type: str,
        body: bytes | str,
        credentials: Any = None,
        extra_headers: Iterable[Any] | None = None,
        *,
        use_cpim: bool = False,
        dispositions: Sequence[str] = (),
    ) -> None:
        if not isinstance(from_header, FromHeader) or not isinstance(to_header, ToHeader):
            raise TypeError("from_header and to_header must be a FromHeader and a ToHeader")
        if not isinstance(to_header.uri, SIPURI) or not isinstance(from_header.uri, SIPURI):
            raise ValueError("a MESSAGE goes from and to SIP URIs")
        ContentTypeHeader.parse(content_type)  # SIPParseError (a ValueError) if invalid
        if dispositions and not use_cpim:
            raise ValueError("IMDN dispositions need use_cpim (they are CPIM headers)")
        self.from_header = from_header
        self.to_header = to_header
        self.route_header = route_header
        found = _routes(route_header)
        # a RouteHeader naming a host is looked up when sent (RFC 3263)
        self.routes: list[Route] = found if isinstance(found, list) else []
        self._lookup_uri = found if isinstance(found, SIPURI) else None
        self.content_type = content_type
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self.credentials = credentials
        self.extra_headers = [
            [h.name, str(h)] if hasattr(h, "name") else list(h) for h in (extra_headers or ())
        ]
        self.use_cpim = use_cpim
        self.dispositions = tuple(dispositions)
        self.message_id: str | None = new_message_id() if use_cpim else None
        self._credentials = _credentials(credentials)
        self._lock = threading.Lock()
        self._state = "INIT"  # INIT, IN_PROGRESS, DONE
        self._timeout = DEFAULT_TIMEOUT
        self._wire: tuple[str, bytes] | None = None

    @property
    def is_sent(self) -> bool:
        return self._state != "INIT"

    @property
    def in_progress(self) -> bool:
        return self._state == "IN_PROGRESS"

    def send(self, timeout: float | None = None) -> None:
        """Send it (once); `timeout` bounds the wait for each response (else 40 s)."""
        if timeout is not None and not timeout > 0:
            raise ValueError("timeout must be positive")
        content_type, body = self.content_type, self.body
        if self.use_cpim:
            body = wrap_cpim(content_type, body, self.from_header, self.to_header,
                             dispositions=self.dispositions, message_id=self.message_id)
            content_type = CPIM_CONTENT_TYPE
        with self._lock:
            if self._state != "INIT":
                raise RuntimeError("this MESSAGE was already sent")
            self._state = "IN_PROGRESS"
            self._timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
            self._wire = (content_type, body)
        if self._lookup_uri is None:
            self._try(0)
        else:
            threading.Thread(target=self._resolve, name="sipsimple-message-lookup",
                             daemon=True).start()

    def _resolve(self) -> None:
        from sipsimple.lookup import DNSLookupError

        assert self._lookup_uri is not None
        try:
            self.routes = _lookup(self._lookup_uri)
        except (DNSLookupError, BusError) as exc:
            self._fail(0, f"no route to {self._lookup_uri}: {exc}", [])
            return
        if not self.routes:
            self._fail(0, f"no route to {self._lookup_uri}", [])
            return
        self._try(0)

    def _try(self, index: int) -> None:
        assert self._wire is not None
        content_type, body = self._wire
        params: dict[str, Any] = {
            "from_uri": str(self.from_header.uri),
            "to_uri": str(self.to_header.uri),
            "route": self.routes[index].to_bus(),
            "content_type": content_type,
            "body": body,
            "response_timeout": self._timeout,
        }
        for name, value in (("display_name", self.from_header.display_name),
                            ("to_display_name", self.to_header.display_name),
                            ("credentials", self._credentials),
                            ("headers", self.extra_headers or None)):
            if value is not None:
                params[name] = value
        # the service waits up to the timeout for each challenged attempt
        wait = self._timeout * AUTH_ATTEMPTS + 10
        try:
            future = get_bus().call_async("signalling", "send_message", params, timeout=wait)
        except (BusError, RuntimeError, ValueError) as exc:
            self._fail(0, str(exc), [])
            return
        future.add_done_callback(lambda done: self._done(done, index))

    def _done(self, future: BusFuture, index: int) -> None:
        error = future.exception()
        if error is not None:
            self._fail(0, f"the signalling service: {error}", [])
            return
        reply = future.result()
        code, headers = int(reply["code"]), reply.get("headers") or []
        reason = reply.get("error") or reply.get("reason") or ""
        if reply.get("local"):
            if code in LOCAL_FAILOVER and index + 1 < len(self.routes):
                self._try(index + 1)
                return
            self._fail(code, reason, headers)
        elif 200 <= code < 300:
            self._finish("SIPMessageDidSucceed", code=code, reason=reply.get("reason") or "",
                         originator="remote", headers=headers)
        else:
            self._finish("SIPMessageDidFail", code=code, reason=reply.get("reason") or "",
                         originator="remote", headers=headers)

    def _fail(self, code: int, reason: str, headers: list[Any]) -> None:
        self._finish("SIPMessageDidFail", code=code, reason=reason, originator="local",
                     headers=headers)

    def _finish(self, name: str, **data: Any) -> None:
        with self._lock:
            self._state = "DONE"
        NotificationCenter().post_notification(
            name, self, NotificationData(timestamp=datetime.now(), **data))

    def __repr__(self) -> str:
        return f"<Message {self.from_header.uri} -> {self.to_header.uri} {self._state}>"
