"""SIP value types shared by the facade and the services.

Small and self-contained: URIs and routes now; headers and other URI schemes
join later.
"""

from sipsimple.core.route import Route
from sipsimple.core.uri import SIPURI, SIPURIError

__all__ = ["SIPURI", "Route", "SIPURIError"]
