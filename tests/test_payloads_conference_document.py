"""sipsimple.payloads.conference.document: Conference, a conference-info document (RFC 4575)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from conference_info_strategies import ENTITY, RFC_FULL, conferences, users
from hypothesis import given, settings

from sipsimple.payloads.conference import (
    AvailableMedia,
    Conference,
    ConferenceDescription,
    ConferenceDocument,
    ConferenceMergeError,
    ConferenceParseError,
    ConferenceState,
    Endpoint,
    ExecutionInfo,
    HostInfo,
    Media,
    URIEntry,
    URIList,
    User,
    merge,
)
from tests.harness.fuzz import mutations

WHEN = datetime(2005, 3, 4, 20, 0, tzinfo=UTC)


def test_rfc4575_full_example() -> None:
    info = Conference.parse(RFC_FULL)
    assert (info.entity, info.state, info.version) == (ENTITY, "full", 1)
    assert info.conference_description == ConferenceDescription(
        subject="Agenda: This month's goals",
        service_uris=URIList((URIEntry("http://sharepoint/salesgroup/", purpose="web-page"),)),
    )
    assert info.conference_state == ConferenceState(user_count=33)
    assert info.host_info is None
    assert info.users is not None and info.users.state == "full"
    bob, alice = info.users
    assert bob == User(
        "sip:bob@example.com",
        display_text="Bob Hoskins",
        endpoints=(
            Endpoint(
                "sip:bob@pc33.example.com",
                display_text="Bob's Laptop",
                status="disconnected",
                disconnection_method="departed",
                disconnection_info=ExecutionInfo(WHEN, "bad voice quality", "sip:mike@example.com"),
                media=(Media("1", "main audio", "audio", "34567", "432424", "sendrecv"),),
            ),
        ),
    )
    assert alice == User(
        "sip:alice@example.com",
        display_text="Alice",
        endpoints=(
            Endpoint(
                "sip:4kfk4j392jsu@example.com;grid=433kj4j3u",
                status="connected",
                joining_method="dialed-out",
                joining_info=ExecutionInfo(WHEN, None, "sip:mike@example.com"),
                media=(Media("1", None, "audio", "34566", "534232", "sendrecv"),),
            ),
        ),
    )
    assert info.user("sip:alice@example.com") is alice
    assert info.user("sip:nobody@example.com") is None
    assert Conference.parse(info.encode()) == info
    assert ConferenceDocument is Conference


def test_every_element_reads_and_writes() -> None:
    body = b"""<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
      xmlns:x="urn:ext" entity="sip:c@example.com" state="full" version="7">
     <conference-description>
      <display-text>Weekly</display-text><subject>Plans</subject><free-text>Free</free-text>
      <keywords>sales  plans</keywords>
      <conf-uris state="full"><entry><uri>sip:c@example.com</uri><display-text>Bridge</display-text>
       <purpose>participation</purpose><modified><when>2026-01-02T03:04:05+01:00</when>
       <reason>moved</reason><by>sip:admin@example.com</by></modified></entry></conf-uris>
      <maximum-user-count>50</maximum-user-count>
      <available-media><entry label="10"><display-text>Audio</display-text><type>audio</type>
       <status>sendrecv</status></entry></available-media>
      <x:unknown>ignored</x:unknown>
     </conference-description>
     <host-info><display-text>Host</display-text><web-page>http://example.com/</web-page>
      <uris><entry><uri>sip:host@example.com</uri></entry></uris></host-info>
     <conference-state><user-count>2</user-count><active>true</active><locked>0</locked>
     </conference-state>
     <users><user entity="sip:a@example.com"><associated-aors><entry><uri>tel:+1</uri></entry>
      </associated-aors><roles><entry>participant</entry><entry>moderator</entry></roles>
      <languages>en fr</languages><cascaded-focus>sip:f@example.com</cascaded-focus>
      <endpoint entity="sip:a@pc" state="full"><referred><by>sip:b@example.com</by></referred>
       <status>on-hold</status></endpoint></user></users>
     <sidebars-by-ref><entry><uri>sip:side@example.com</uri></entry></sidebars-by-ref>
     <sidebars-by-val><entry entity="sip:x@y"/></sidebars-by-val>
    </conference-info>"""
    info = Conference.parse(body)
    description = info.conference_description
    assert description is not None
    assert description.keywords == ("sales", "plans")
    assert description.maximum_user_count == 50
    assert description.available_media == (AvailableMedia("10", "audio", "Audio", "sendrecv"),)
    entry = description.conf_uris.entries[0] if description.conf_uris else None
    assert entry == URIEntry(
        "sip:c@example.com",
        "Bridge",
        "participation",
        ExecutionInfo(datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC), "moved", "sip:admin@example.com"),
    )
    assert info.host_info == HostInfo(
        "Host", "http://example.com/", URIList((URIEntry("sip:host@example.com"),))
    )
    assert info.conference_state == ConferenceState(2, True, False)
    user = info.user("sip:a@example.com")
    assert user is not None
    assert user.roles == ("participant", "moderator")
    assert user.languages == ("en", "fr")
    assert user.cascaded_focus == "sip:f@example.com"
    assert user.associated_aors == URIList((URIEntry("tel:+1"),))
    assert user.endpoints == (
        Endpoint("sip:a@pc", referred=ExecutionInfo(by="sip:b@example.com"), status="on-hold"),
    )
    assert info.sidebars_by_ref == URIList((URIEntry("sip:side@example.com"),))
    assert Conference.parse(info.encode()) == info


@settings(max_examples=200, deadline=None)
@given(conferences)
def test_build_then_parse_round_trip(conference: Conference) -> None:
    assert Conference.parse(conference.encode()) == conference


SPECIAL = [
    b"<",
    b">",
    b"/",
    b"&",
    b"<!DOCTYPE x>",
    b"\x00",
    b"\xff",
    b"state='deleted'",
    b"version='99999999999'",
    b"<user entity='x'/>",
    b"</users>",
    b"'",
    b'"',
]


def test_seeded_fuzz_of_mutated_documents() -> None:
    base = Conference.parse(RFC_FULL)
    samples = [
        RFC_FULL,
        users(
            2,
            '<user entity="sip:bob@example.com" state="partial">'
            "<display-text>B</display-text></user>",
        ).encode(),
    ]
    parsed = 0
    for data in mutations(0x4575, samples, 3000, SPECIAL):
        try:
            document = Conference.parse(data)
        except ConferenceParseError:
            continue
        parsed += 1
        assert Conference.parse(document.encode()) == document
        with contextlib.suppress(ConferenceMergeError):
            merge(base, document)
    assert parsed > 50
