"""What the ICE agent tells its caller, besides the datagrams to send."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .candidate import Candidate

__all__ = [
    "ConsentLost",
    "IceCompleted",
    "IceEvent",
    "IceFailed",
    "IceState",
    "IceStateChanged",
    "PairSelected",
]

Address = tuple[str, int]


class IceState(StrEnum):
    NEW = "new"
    CHECKING = "checking"
    COMPLETED = "completed"  # a pair selected for every component
    FAILED = "failed"


@dataclass(frozen=True)
class IceStateChanged:
    old: IceState
    new: IceState


@dataclass(frozen=True)
class PairSelected:
    component: int
    local: Candidate
    remote: Candidate
    base: Address  # the local socket address (or relayed address) to send from

    @property
    def remote_address(self) -> Address:
        return self.remote.address


@dataclass(frozen=True)
class IceCompleted:
    pairs: tuple[PairSelected, ...]


@dataclass(frozen=True)
class IceFailed:
    reason: str


@dataclass(frozen=True)
class ConsentLost:
    component: int
    remote: Address


IceEvent = IceStateChanged | PairSelected | IceCompleted | IceFailed | ConsentLost
