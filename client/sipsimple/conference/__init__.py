"""Hosting conferences: `ConferenceRoom`, a focus run by one of our accounts (RFC 4579)."""

from sipsimple.conference.room import ConferenceRoom
from sipsimple.conference.roster import Participant, Roster

__all__ = ["ConferenceRoom", "Participant", "Roster"]
