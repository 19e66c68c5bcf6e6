"""The Session's state table: every method, every state."""

from __future__ import annotations

import pytest

from sipsimple.session.states import ACTIVE, CALLS, STATES, IllegalStateError, check_call


def test_every_table_entry_names_known_states() -> None:
    for method, (allowed, after) in CALLS.items():
        assert allowed <= set(STATES), method
        assert after is None or after in STATES, method


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("state", STATES)
def test_check_call_moves_or_raises_without_change(method: str, state: str | None) -> None:
    allowed, after = CALLS[method]
    if state in allowed:
        assert check_call(method, state) == (state if after is None else after)
    else:
        with pytest.raises(IllegalStateError, match=method):
            check_call(method, state)


def test_the_documents_rules() -> None:
    assert CALLS["connect"][0] == {None}
    assert CALLS["accept"][0] == CALLS["reject"][0] == {"incoming"}
    assert CALLS["accept_proposal"][0] == CALLS["reject_proposal"][0] == {"received_proposal"}
    assert CALLS["add_stream"][0] == CALLS["remove_stream"][0] == {"connected"}
    assert "terminated" not in CALLS["end"][0] and None not in CALLS["end"][0]
    assert set(STATES) - {None, "terminated"} == ACTIVE
