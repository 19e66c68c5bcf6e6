"""The RFC 4575 example, partial notifications and hypothesis strategies shared by
the conference-info payload tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from sipsimple.payloads.conference import (
    STATES,
    AvailableMedia,
    Conference,
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


def partial(version: int, inner: str, entity: str = ENTITY) -> Conference:
    return Conference.parse(
        f'<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="{entity}" '
        f'state="partial" version="{version}">{inner}</conference-info>'.encode()
    )


def users(version: int, inner: str) -> Conference:
    return partial(version, f'<users state="partial">{inner}</users>')


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
