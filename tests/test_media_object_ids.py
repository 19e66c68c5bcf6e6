"""services/media/object_ids.py: the ids a client chooses, and the ids ended before
they were made."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.object_ids import (
    Cancelled,
    check_port_id,
    check_stream_id,
    is_port_id,
    is_stream_id,
)


def test_the_shapes_of_ids() -> None:
    assert is_stream_id(uuid.uuid4().hex)
    assert not is_stream_id(uuid.uuid4().hex.upper())
    assert not is_stream_id(uuid.uuid4().hex + "\n")
    assert is_port_id(f"tone-{uuid.uuid4().hex[:16]}", "tone")
    assert not is_port_id(f"tone-{uuid.uuid4().hex[:16]}", "player")
    assert is_port_id(f"recorder-{uuid.uuid4().hex}")
    assert not is_port_id("voice-device")  # the devices' ids are the service's own
    with pytest.raises(ValueError, match="32 lowercase hex"):
        check_stream_id("x" * 1000)
    with pytest.raises(ValueError, match="'tone'"):
        check_port_id("player-0123456789abcdef", "tone")


@given(st.text(max_size=80))
def test_any_string_is_an_id_or_refused_with_a_value_error(value: str) -> None:
    assert is_stream_id(value) == bool(re.fullmatch(r"[0-9a-f]{32}", value))
    try:
        check_stream_id(value)
    except ValueError:
        assert not is_stream_id(value)
    try:
        check_port_id(value, "tone")
    except ValueError:
        assert not is_port_id(value, "tone")


def test_cancelled_ids_are_kept_up_to_a_limit_oldest_dropped_first() -> None:
    cancelled = Cancelled(limit=3)
    for name in ("a", "b", "c"):
        cancelled.add(name)
    cancelled.add("a")  # again: now the newest
    cancelled.add("d")
    assert "b" not in cancelled
    assert all(name in cancelled for name in ("a", "c", "d"))
    assert len(cancelled) == 3
