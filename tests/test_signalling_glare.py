"""RFC 3261 14.1 retry delays and the INVITE session table."""

from __future__ import annotations

import pytest

from sipsimple_services.signalling.sip.invite import actions as invite_actions
from sipsimple_services.signalling.sip.invite.glare import glare_delay, urandom_below
from sipsimple_services.signalling.sip.invite.states import TABLE, Act


def test_owner_waits_2_1_to_4_seconds_in_10_ms_units() -> None:
    assert glare_delay(True, lambda n: 0) == 2.1
    assert glare_delay(True, lambda n: n - 1) == 4.0
    assert glare_delay(False, lambda n: n - 1) == 2.0
    assert glare_delay(False, lambda n: 37) == 0.37
    assert glare_delay(False, lambda n: 0) == 0.01  # one tick: always a timer


def test_bad_random_source_is_refused() -> None:
    with pytest.raises(ValueError):
        glare_delay(False, lambda n: n + 500)
    with pytest.raises(ValueError):
        urandom_below(0)
    assert all(0 <= urandom_below(7) < 7 for _ in range(100))


def test_every_table_action_exists() -> None:
    for _, act in TABLE.values():
        assert hasattr(invite_actions.InviteActions, f"_do_{act.value}"), act
    assert {act for _, act in TABLE.values()} == set(Act)
