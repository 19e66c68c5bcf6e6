"""Conference state: application/conference-info+xml (RFC 4575) and its merge.

`Conference` is one parsed ``<conference-info>`` document and also the
subscriber's view of the conference that `SIPSessionGotConferenceInfo` carries.
Optional children are None when absent, so that a partial notification says
exactly what it changes. `merge` applies a notification to the current state
(RFC 4575 section 4.6):

- ``state="full"`` replaces the whole state; ``state="deleted"`` on the root
  ends it (the document is returned as it is).
- ``state="partial"`` must carry the version right after the current one.
  Elements with a ``state`` attribute (users, user, endpoint and the URI lists)
  are merged by key: user and endpoint by ``entity``, URI entries by ``uri``;
  an item marked ``deleted`` is removed, ``full`` replaces the item, ``partial``
  merges into it. Media (by ``id``), available-media entries (by ``label``) and
  the elements without a ``state`` attribute (conference-description,
  host-info, conference-state) take the children present in the notification
  and keep the others.
- A stale version (not above the current one) raises `StaleVersionError`: drop
  the document. A gap, or a partial document with nothing to apply it to,
  raises `ResubscribeError`: the state is unknown until a new full document, so
  the subscriber re-SUBSCRIBEs.

Sidebars by value and call-info are not modelled (ignored when parsing).
"""

from sipsimple.payloads.conference.document import Conference, ConferenceDocument
from sipsimple.payloads.conference.elements import (
    CONTENT_TYPE,
    NAMESPACE,
    STATES,
    AvailableMedia,
    ConferenceDescription,
    ConferenceState,
    Endpoint,
    ExecutionInfo,
    HostInfo,
    Media,
    URIEntry,
    URIList,
    User,
    Users,
)
from sipsimple.payloads.conference.merging import (
    ConferenceMergeError,
    ResubscribeError,
    StaleVersionError,
    merge,
)
from sipsimple.payloads.conference.parsing import ConferenceParseError

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "STATES",
    "AvailableMedia",
    "Conference",
    "ConferenceDescription",
    "ConferenceDocument",
    "ConferenceMergeError",
    "ConferenceParseError",
    "ConferenceState",
    "Endpoint",
    "ExecutionInfo",
    "HostInfo",
    "Media",
    "ResubscribeError",
    "StaleVersionError",
    "URIEntry",
    "URIList",
    "User",
    "Users",
    "merge",
]
