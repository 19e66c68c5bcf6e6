"""sipsimple.payloads.conference.merging: notifications merged into the state (RFC 4575 4.6)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conference_info_strategies import ENTITY, RFC_FULL, conferences, partial, users
from hypothesis import assume, given, settings

from sipsimple.payloads.conference import (
    AvailableMedia,
    Conference,
    ConferenceMergeError,
    ConferenceState,
    Endpoint,
    HostInfo,
    Media,
    ResubscribeError,
    StaleVersionError,
    URIEntry,
    URIList,
    User,
    merge,
)


@pytest.fixture
def held() -> Conference:
    return merge(None, Conference.parse(RFC_FULL))


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
        # the version is an unsigned 32-bit int: nothing follows the largest
        assume(state.version < 2**32 - 1)
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
