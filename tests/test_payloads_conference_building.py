"""sipsimple.payloads.conference.building: values a conference-info document cannot carry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sipsimple.payloads import BuilderError
from sipsimple.payloads.conference import (
    Conference,
    ConferenceDescription,
    ConferenceState,
    Endpoint,
    HostInfo,
    URIEntry,
    URIList,
    User,
    Users,
)


@pytest.mark.parametrize(
    "changes",
    [
        {"entity": ""},
        {"entity": " sip:c@x"},
        {"state": "half"},
        {"version": -1},
        {"version": True},
        {"conference_state": ConferenceState(user_count=-1)},
        {"conference_description": ConferenceDescription(keywords=("two words",))},
        {"conference_description": ConferenceDescription(subject="bell\x07")},
        {"users": Users((User("u", endpoints=(Endpoint("e", status=" x"),)),))},
        {"users": Users((User("u", state="gone"),))},
        {"host_info": HostInfo(uris=URIList((URIEntry(""),)))},
    ],
)
def test_builder_refuses_invalid_values(changes: dict[str, Any]) -> None:
    with pytest.raises(BuilderError):
        replace(Conference("sip:c@x"), **changes).encode()
