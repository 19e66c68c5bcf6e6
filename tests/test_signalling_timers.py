"""The timer table of RFC 3261 Table 4 and RFC 6026."""

from __future__ import annotations

import pytest

from sipsimple_services.signalling.sip.transactions.timers import (
    TimerConfig,
    TimerName,
    initial_delay,
)

DEFAULT = TimerConfig()

UDP_VALUES = {
    "A": 0.5, "B": 32.0, "C": 200.0, "D": 32.0, "E": 0.5, "F": 32.0, "G": 0.5,
    "H": 32.0, "I": 5.0, "J": 32.0, "K": 5.0, "L": 32.0, "M": 32.0,
}
# retransmission timers unused, "absorb stray retransmissions" timers zero
TCP_VALUES = {
    "A": None, "B": 32.0, "C": 200.0, "D": 0.0, "E": None, "F": 32.0, "G": None,
    "H": 32.0, "I": 0.0, "J": 0.0, "K": 0.0, "L": 32.0, "M": 32.0,
}


@pytest.mark.parametrize("name", list(TimerName))
def test_table(name: TimerName) -> None:
    assert initial_delay(name, DEFAULT, reliable=False) == UDP_VALUES[name.value]
    assert initial_delay(name, DEFAULT, reliable=True) == TCP_VALUES[name.value]


def test_values_scale_with_t1_t4() -> None:
    config = TimerConfig(t1=0.1, t2=2.0, t4=3.0, timer_d=40.0, timer_c=181.0)
    assert config.timeout == pytest.approx(6.4)
    assert initial_delay(TimerName.A, config, False) == 0.1
    assert initial_delay(TimerName.B, config, True) == pytest.approx(6.4)
    assert initial_delay(TimerName.K, config, False) == 3.0
    assert initial_delay(TimerName.D, config, False) == 40.0
    assert initial_delay(TimerName.C, config, False) == 181.0


@pytest.mark.parametrize(
    "kwargs", [{"t1": 0}, {"t2": -1.0}, {"t4": True}, {"t1": 5.0, "t2": 4.0}, {"timer_c": "x"}]
)
def test_invalid_config(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)
