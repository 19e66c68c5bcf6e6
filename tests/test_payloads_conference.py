"""sipsimple.payloads.conference: conference-info (RFC 4575) and the merge of notifications."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.payloads import BuilderError, ParserError
from sipsimple.payloads.conference import (
    STATES,
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
    ResubscribeError,
    StaleVersionError,
    URIEntry,
    URIList,
    User,
    Users,
    merge,
)
from tests.harness.fuzz import mutations

# RFC 4575 section 6: the full-state example, comments and all.
RFC_FULL = b"""<?xml version="1.0" encoding="UTF-8"?>
   <conference-info
    xmlns="urn:ietf:params:xml:ns:conference-info"
    entity="sips:conf233@example.com"
    state="full" version="1">
   <!--
     CONFERENCE INFO
   -->
    <conference-description>
     <subject>Agenda: This month's goals</subject>
      <service-uris>
       <entry>
        <uri>http://sharepoint/salesgroup/</uri>
        <purpose>web-page</purpose>
       </entry>
      </service-uris>
     </conference-description>
   <!--
      CONFERENCE STATE
   -->
    <conference-state>
     <user-count>33</user-count>
    </conference-state>
   <!--
     USERS
   -->
    <users>
     <user entity="sip:bob@example.com" state="full">
      <display-text>Bob Hoskins</display-text>
   <!--
     ENDPOINTS
   -->
      <endpoint entity="sip:bob@pc33.example.com">
       <display-text>Bob's Laptop</display-text>
       <status>disconnected</status>
       <disconnection-method>departed</disconnection-method>
       <disconnection-info>
        <when>2005-03-04T20:00:00Z</when>
        <reason>bad voice quality</reason>
        <by>sip:mike@example.com</by>
       </disconnection-info>
   <!--
     MEDIA
   -->
       <media id="1">
        <display-text>main audio</display-text>
        <type>audio</type>
        <label>34567</label>
        <src-id>432424</src-id>
        <status>sendrecv</status>
       </media>
      </endpoint>
     </user>
   <!--
     USER
   -->
     <user entity="sip:alice@example.com" state="full">
      <display-text>Alice</display-text>
   <!--
     ENDPOINTS
   -->
      <endpoint entity="sip:4kfk4j392jsu@example.com;grid=433kj4j3u">
       <status>connected</status>
       <joining-method>dialed-out</joining-method>
       <joining-info>
        <when>2005-03-04T20:00:00Z</when>
        <by>sip:mike@example.com</by>
       </joining-info>
   <!--
     MEDIA
   -->
       <media id="1">
        <type>audio</type>
        <label>34566</label>
        <src-id>534232</src-id>
        <status>sendrecv</status>
       </media>
      </endpoint>
     </user>
    </users>
   </conference-info>
"""
ENTITY = "sips:conf233@example.com"
WHEN = datetime(2005, 3, 4, 20, 0, tzinfo=UTC)


def partial(version: int, inner: str, entity: str = ENTITY) -> Conference:
    return Conference.parse(
        f'<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="{entity}" '
        f'state="partial" version="{version}">{inner}</conference-info>'.encode()
    )


def users(version: int, inner: str) -> Conference:
    return partial(version, f'<users state="partial">{inner}</users>')


@pytest.fixture
def held() -> Conference:
    return merge(None, Conference.parse(RFC_FULL))


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


@pytest.mark.parametrize(
    "body",
    [
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info'/>",
        b"<conference-info entity='sip:c@x'/>",  # no namespace
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"state='half'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"version='-1'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"version='4294967296'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user/></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint/></user></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint entity='e'><media/></endpoint></user></users>"
        b"</conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-state><user-count>many</user-count></conference-state></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-state><active>yes</active></conference-state></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-description><conf-uris><entry/></conf-uris></conference-description>"
        b"</conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint entity='e'><joining-info><when>noon</when>"
        b"</joining-info></endpoint></user></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-description><available-media><entry/></available-media>"
        b"</conference-description></conference-info>",
        b"<users xmlns='urn:ietf:params:xml:ns:conference-info'/>",
    ],
)
def test_invalid_documents(body: bytes) -> None:
    with pytest.raises(ConferenceParseError):
        Conference.parse(body)


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


# -- merging (RFC 4575 section 4.6) ------------------------------------------------


def test_first_full_document_becomes_the_state(held: Conference) -> None:
    assert held == Conference.parse(RFC_FULL)
    assert held.version == 1


def test_partial_merges_by_key_and_deletes(held: Conference) -> None:
    state = merge(
        held,
        users(
            2,
            '<user entity="sip:bob@example.com" state="partial">'
            '<endpoint entity="sip:bob@pc33.example.com" state="partial">'
            '<status>connected</status><media id="1"><status>recvonly</status></media>'
            "</endpoint></user>"
            '<user entity="sip:alice@example.com" state="deleted"/>'
            '<user entity="sip:carol@example.com" state="full"><display-text>Carol</display-text>'
            '<endpoint entity="sip:carol@example.com"><status>alerting</status></endpoint></user>',
        ),
    )
    assert state.version == 2
    assert state.state == "full"
    assert [user.entity for user in state.users or ()] == [
        "sip:bob@example.com",
        "sip:carol@example.com",
    ]
    bob = state.user("sip:bob@example.com")
    assert bob is not None and bob.display_text == "Bob Hoskins"  # left out: kept
    assert bob.state == "full"
    (laptop,) = bob.endpoints
    assert laptop.status == "connected"
    assert laptop.display_text == "Bob's Laptop"
    assert laptop.disconnection_method == "departed"
    assert laptop.state == "full"
    assert laptop.media == (Media("1", "main audio", "audio", "34567", "432424", "recvonly"),)
    carol = state.user("sip:carol@example.com")
    assert carol is not None and carol.state == "full"
    assert carol.endpoints == (Endpoint("sip:carol@example.com", status="alerting"),)
    assert state.conference_state == ConferenceState(user_count=33)  # not mentioned: kept
    assert state.conference_description == held.conference_description


def test_partial_adds_endpoints_and_media(held: Conference) -> None:
    state = merge(
        held,
        users(
            2,
            '<user entity="sip:bob@example.com" state="partial">'
            '<endpoint entity="sip:bob@phone.example.com" state="partial"><status>dialing-out'
            '</status></endpoint><endpoint entity="sip:bob@pc33.example.com" state="partial">'
            '<media id="2"><type>video</type></media></endpoint></user>',
        ),
    )
    bob = state.user("sip:bob@example.com")
    assert bob is not None
    assert [e.entity for e in bob.endpoints] == [
        "sip:bob@pc33.example.com",
        "sip:bob@phone.example.com",
    ]
    assert bob.endpoints[1] == Endpoint("sip:bob@phone.example.com", status="dialing-out")
    assert [m.id for m in bob.endpoints[0].media] == ["1", "2"]


def test_partial_deletes_an_endpoint(held: Conference) -> None:
    state = merge(
        held,
        users(
            2,
            '<user entity="sip:alice@example.com" state="partial">'
            '<endpoint entity="sip:4kfk4j392jsu@example.com;grid=433kj4j3u" state="deleted"/>'
            "</user>",
        ),
    )
    alice = state.user("sip:alice@example.com")
    assert alice is not None
    assert alice.endpoints == ()
    assert alice.display_text == "Alice"


def test_full_element_inside_partial_replaces(held: Conference) -> None:
    state = merge(
        held,
        users(
            2,
            '<user entity="sip:bob@example.com" state="full">'
            '<endpoint entity="sip:bob@pc33.example.com" state="deleted"/>'
            '<endpoint entity="sip:bob@phone.example.com"/></user>',
        ),
    )
    bob = state.user("sip:bob@example.com")
    assert bob == User("sip:bob@example.com", endpoints=(Endpoint("sip:bob@phone.example.com"),))


def test_partial_sections_change_only_what_they_carry(held: Conference) -> None:
    state = merge(
        held,
        partial(
            2,
            "<conference-description><conf-uris state='partial'><entry><uri>tel:+15551234</uri>"
            "</entry></conf-uris><service-uris state='partial'><entry>"
            "<uri>http://sharepoint/salesgroup/</uri><display-text>Share</display-text></entry>"
            "</service-uris><available-media><entry label='1'><type>audio</type></entry>"
            "</available-media></conference-description>"
            "<conference-state><user-count>34</user-count><locked>true</locked></conference-state>"
            "<host-info><display-text>Mike</display-text></host-info>",
        ),
    )
    description = state.conference_description
    assert description is not None
    assert description.subject == "Agenda: This month's goals"
    assert description.conf_uris == URIList((URIEntry("tel:+15551234"),))
    # URI entries are keyed by uri: the new entry replaces the old one.
    assert description.service_uris == URIList(
        (URIEntry("http://sharepoint/salesgroup/", display_text="Share"),)
    )
    assert description.available_media == (AvailableMedia("1", "audio"),)
    assert state.conference_state == ConferenceState(34, None, True)
    assert state.host_info == HostInfo("Mike")
    assert len(state.users or ()) == 2


def test_roles_are_replaced_only_when_listed(held: Conference) -> None:
    state = merge(
        held,
        users(
            2,
            '<user entity="sip:bob@example.com" state="partial">'
            "<roles><entry>participant</entry></roles></user>",
        ),
    )
    state = merge(
        state,
        users(
            3,
            '<user entity="sip:bob@example.com" state="partial">'
            "<display-text>Robert</display-text></user>",
        ),
    )
    bob = state.user("sip:bob@example.com")
    assert bob is not None and bob.roles == ("participant",) and bob.display_text == "Robert"
    state = merge(
        state,
        users(
            4,
            '<user entity="sip:bob@example.com" state="partial">'
            "<roles><entry>moderator</entry></roles></user>",
        ),
    )
    bob = state.user("sip:bob@example.com")
    assert bob is not None and bob.roles == ("moderator",)


def test_deleted_sections(held: Conference) -> None:
    state = merge(held, partial(2, '<users state="deleted"/>'))
    assert state.users is None
    assert state.conference_description is not None
    state = merge(state, partial(3, '<conference-description state="deleted"/>'))
    assert state.conference_description is None
    assert state.conference_state is not None
    state = merge(
        state,
        partial(4, '<users state="full"><user entity="sip:dave@example.com"/></users>'),
    )
    assert [u.entity for u in state.users or ()] == ["sip:dave@example.com"]


def test_a_full_document_replaces_everything(held: Conference) -> None:
    update = Conference.parse(
        b'<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" '
        b'entity="sips:conf233@example.com" state="full" version="9">'
        b'<users><user entity="sip:erin@example.com"/></users></conference-info>'
    )
    state = merge(held, update)
    assert state == update
    assert state.conference_description is None


def test_stale_versions_are_dropped(held: Conference) -> None:
    with pytest.raises(StaleVersionError):
        merge(held, Conference.parse(RFC_FULL))
    state = merge(held, users(2, '<user entity="sip:dave@example.com"/>'))
    with pytest.raises(StaleVersionError):
        merge(state, users(2, '<user entity="sip:bob@example.com" state="deleted"/>'))
    with pytest.raises(StaleVersionError):
        merge(state, users(1, '<user entity="sip:bob@example.com" state="deleted"/>'))
    assert not issubclass(StaleVersionError, ResubscribeError)
    assert issubclass(StaleVersionError, ConferenceMergeError)


def test_version_gap_asks_to_resubscribe(held: Conference) -> None:
    with pytest.raises(ResubscribeError, match="gap"):
        merge(held, users(3, '<user entity="sip:bob@example.com" state="deleted"/>'))
    # A new full state (any newer version) recovers.
    recovered = merge(held, Conference.parse(RFC_FULL.replace(b'version="1"', b'version="5"')))
    assert recovered.version == 5
    state = merge(recovered, users(6, '<user entity="sip:alice@example.com" state="deleted"/>'))
    assert state.user("sip:alice@example.com") is None


def test_partial_before_any_full_asks_to_resubscribe() -> None:
    with pytest.raises(ResubscribeError, match="without a full state"):
        merge(None, users(7, '<user entity="sip:bob@example.com"/>'))


def test_partial_without_versions_or_for_another_conference(held: Conference) -> None:
    unversioned = Conference.parse(
        b'<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" '
        b'entity="sips:conf233@example.com" state="partial"/>'
    )
    with pytest.raises(ResubscribeError, match="versions"):
        merge(held, unversioned)
    with pytest.raises(ResubscribeError, match="not"):
        merge(held, partial(2, "", entity="sip:other@example.com"))


def test_deleted_conference_is_returned_as_is(held: Conference) -> None:
    gone = Conference(ENTITY, "deleted", 2)
    assert merge(held, gone) == gone


# -- round trips and fuzz ---------------------------------------------------------------

tokens = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12
)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15).map(
    lambda t: "".join(c for c in t if c >= " " or c in "\t\n\r")
)
words = st.lists(tokens, max_size=3).map(tuple)
timestamps = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-1439, 1439),
)
executions = st.builds(ExecutionInfo, st.none() | timestamps, st.none() | texts, st.none() | tokens)
uri_lists = st.builds(
    URIList,
    st.lists(
        st.builds(URIEntry, tokens, st.none() | texts, st.none() | texts, st.none() | executions),
        max_size=2,
    ).map(tuple),
    st.sampled_from(STATES),
)
states = st.sampled_from(STATES)
section_states = st.none() | states
media = st.builds(
    Media,
    tokens,
    st.none() | texts,
    st.none() | tokens,
    st.none() | tokens,
    st.none() | tokens,
    st.none() | tokens,
)
endpoints = st.builds(
    Endpoint,
    tokens,
    states,
    st.none() | texts,
    st.none() | executions,
    st.none() | tokens,
    st.none() | tokens,
    st.none() | executions,
    st.none() | tokens,
    st.none() | executions,
    st.lists(media, max_size=2).map(tuple),
)
user_values = st.builds(
    User,
    tokens,
    states,
    st.none() | texts,
    st.none() | uri_lists,
    st.none() | words,
    st.none() | words,
    st.none() | tokens,
    st.lists(endpoints, max_size=2).map(tuple),
)
unsigned = st.integers(0, 2**32 - 1)
conferences = st.builds(
    Conference,
    tokens,
    states,
    st.none() | unsigned,
    st.none()
    | st.builds(
        ConferenceDescription,
        st.none() | texts,
        st.none() | texts,
        st.none() | texts,
        st.none() | words,
        st.none() | uri_lists,
        st.none() | uri_lists,
        st.none() | unsigned,
        st.none()
        | st.lists(
            st.builds(
                AvailableMedia, tokens, st.none() | tokens, st.none() | texts, st.none() | tokens
            ),
            max_size=2,
        ).map(tuple),
        section_states,
    ),
    st.none()
    | st.builds(
        HostInfo, st.none() | texts, st.none() | tokens, st.none() | uri_lists, section_states
    ),
    st.none()
    | st.builds(
        ConferenceState,
        st.none() | unsigned,
        st.none() | st.booleans(),
        st.none() | st.booleans(),
        section_states,
    ),
    st.none() | st.builds(Users, st.lists(user_values, max_size=3).map(tuple), states),
    st.none() | uri_lists,
)


@settings(max_examples=200, deadline=None)
@given(conferences)
def test_build_then_parse_round_trip(conference: Conference) -> None:
    assert Conference.parse(conference.encode()) == conference


@settings(max_examples=200, deadline=None)
@given(conferences, conferences)
def test_merge_never_fails_unexpectedly(first: Conference, second: Conference) -> None:
    try:
        state = merge(None, first)
    except ConferenceMergeError:
        assert first.state == "partial"
        return
    second = replace(second, entity=first.entity)
    if state.version is not None:
        second = replace(second, version=state.version + 1)
    try:
        merged = merge(state, second)
    except ResubscribeError:
        assert state.state != "full" or second.version is None or state.version is None
        return
    if second.state == "deleted":
        assert merged == second  # the conference is gone
        return
    # Stored state holds no partial or deleted users or endpoints, and encodes.
    assert merged.state == "full"
    for user in merged.users or ():
        assert user.state == "full"
        for endpoint in user.endpoints:
            assert endpoint.state == "full"
    assert Conference.parse(merged.encode()) == merged


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


def test_errors_are_payload_errors() -> None:
    assert issubclass(ConferenceParseError, ParserError)


def test_partial_uri_lists_merge_and_delete(held: Conference) -> None:
    state = merge(
        held,
        partial(
            2,
            "<conference-description><service-uris state='deleted'/>"
            "<conf-uris state='partial'><entry><uri>sip:a@x</uri></entry></conf-uris>"
            "</conference-description>"
            "<users state='partial'><user entity='sip:bob@example.com' state='partial'>"
            "<associated-aors state='partial'><entry><uri>tel:+1</uri></entry>"
            "</associated-aors></user></users>",
        ),
    )
    description = state.conference_description
    assert description is not None
    assert description.service_uris is None
    assert description.conf_uris == URIList((URIEntry("sip:a@x"),))
    state = merge(
        state,
        partial(
            3,
            "<conference-description><conf-uris state='partial'><entry><uri>sip:b@x</uri>"
            "</entry></conf-uris></conference-description>"
            "<users state='partial'><user entity='sip:bob@example.com' state='partial'>"
            "<associated-aors state='partial'><entry><uri>tel:+2</uri></entry>"
            "</associated-aors></user><user entity='sip:new@example.com' state='partial'>"
            "<display-text>New</display-text></user></users>",
        ),
    )
    description = state.conference_description
    assert description is not None and description.conf_uris is not None
    assert [e.uri for e in description.conf_uris.entries] == ["sip:a@x", "sip:b@x"]
    bob = state.user("sip:bob@example.com")
    assert bob is not None and bob.associated_aors is not None
    assert [e.uri for e in bob.associated_aors.entries] == ["tel:+1", "tel:+2"]
    # A partial user the state did not hold is added, as a full one.
    assert state.user("sip:new@example.com") == User("sip:new@example.com", display_text="New")
