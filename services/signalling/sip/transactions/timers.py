"""The transaction timers of RFC 3261 (Table 4, section 17) and RFC 6026 (L, M).

=====  =====================  ==============================================
Timer  Initial value          Meaning
=====  =====================  ==============================================
T1     0.5 s                  RTT estimate
T2     4 s                    cap of the retransmit interval (non-INVITE, responses)
T4     5 s                    how long a message may linger in the network
A      T1 (UDP only)          INVITE retransmit; doubles on each firing (no cap)
B      64*T1                  INVITE transaction timeout (Calling)
C      > 3 min                a UA's Proceeding safety net (RFC: proxy timer);
                              restarted by each provisional response
D      >= 32 s UDP, 0 TCP     Completed INVITE client: absorb final retransmissions
E      T1 (UDP only)          non-INVITE retransmit: min(2E, T2) in Trying, T2 in
                              Proceeding
F      64*T1                  non-INVITE transaction timeout
G      T1 (UDP only)          INVITE final (non-2xx) response retransmit, min(2G, T2)
H      64*T1                  wait for the ACK of a non-2xx final response
I      T4 UDP, 0 TCP          Confirmed: absorb ACK retransmissions
J      64*T1 UDP, 0 TCP       Completed non-INVITE server: absorb request retransmits
K      T4 UDP, 0 TCP          Completed non-INVITE client: absorb response retransmits
L      64*T1                  Accepted INVITE server: absorb INVITE retransmissions
M      64*T1                  Accepted INVITE client: collect 2xx retransmissions/forks
=====  =====================  ==============================================

`initial_delay` reads this table: None means "not used on this transport"
(retransmission timers over reliable transports), 0 means "fires at once"
(the state machines then take the transition immediately, without starting a
timer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["TimerConfig", "TimerName", "initial_delay"]


class TimerName(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the RFC's name
    J = "J"
    K = "K"
    L = "L"
    M = "M"


@dataclass(frozen=True)
class TimerConfig:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    # "at least 32 seconds" for unreliable transports (17.1.1.2)
    timer_d: float = 32.0
    # RFC 3261 asks more than 3 minutes of a proxy; a UA uses it so that an
    # INVITE whose peer goes silent after a provisional does not live forever.
    timer_c: float = 200.0

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "timer_d", "timer_c"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if self.t2 < self.t1:
            raise ValueError("T2 must not be smaller than T1")

    @property
    def timeout(self) -> float:
        """64*T1: the timeout of B, F, H, J (UDP), L and M."""
        return 64 * self.t1


def initial_delay(name: TimerName, config: TimerConfig, reliable: bool) -> float | None:
    """The value a timer starts with (None: not used over this transport)."""
    if name in (TimerName.A, TimerName.E, TimerName.G):
        return None if reliable else config.t1
    if name in (TimerName.B, TimerName.F, TimerName.H, TimerName.L, TimerName.M):
        return config.timeout
    if name is TimerName.C:
        return config.timer_c
    if name is TimerName.D:
        return 0.0 if reliable else config.timer_d
    if name is TimerName.J:
        return 0.0 if reliable else config.timeout
    # I and K
    return 0.0 if reliable else config.t4
