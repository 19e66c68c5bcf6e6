from __future__ import annotations

from typing import Any

import pytest

from sipsimple.streams import IMediaStream, MediaStreamRegistrar, MediaStreamRegistry


class _Base(IMediaStream, metaclass=MediaStreamRegistrar):
    """Concrete enough to instantiate; no priority, so never registered."""

    type = "x-test"

    def __init__(self, account: Any = None) -> None:
        self.account = account

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: Any, stream_index: int) -> Any:
        return None

    def get_local_media(self, for_offer: bool) -> Any:
        return None

    def initialize(self, session: Any, direction: Any) -> None: ...
    def start(self, local_sdp: Any, remote_sdp: Any, stream_index: int) -> None: ...
    def validate_update(self, remote_sdp: Any, stream_index: int) -> bool:
        return True

    def update(self, local_sdp: Any, remote_sdp: Any, stream_index: int) -> None: ...
    def deactivate(self) -> None: ...
    def end(self) -> None: ...


def test_declaring_a_stream_class_registers_it_by_priority() -> None:
    class LowStream(_Base):
        type = "x-low"
        priority = 1

    class HighStream(_Base):
        type = "x-high"
        priority = 10

    try:
        ordered = [c for c in MediaStreamRegistry if c in (LowStream, HighStream)]
        assert ordered == [HighStream, LowStream]
        assert MediaStreamRegistry.HighStream is HighStream
        assert MediaStreamRegistry.get("x-low") is LowStream
        assert _Base not in MediaStreamRegistry
    finally:
        MediaStreamRegistry.remove(LowStream)
        MediaStreamRegistry.remove(HighStream)
    with pytest.raises(AttributeError):
        _ = MediaStreamRegistry.LowStream


def test_abstract_classes_are_not_registered() -> None:
    class StillAbstract(IMediaStream, metaclass=MediaStreamRegistrar):
        type = "x-abstract"
        priority = 5

    assert StillAbstract not in MediaStreamRegistry
    with pytest.raises(TypeError):
        StillAbstract(None)  # type: ignore[abstract]


def test_hold_attributes() -> None:
    stream = _Base()
    assert not stream.hold_supported and not stream.on_hold
    stream.on_hold_by_remote = True
    assert stream.on_hold


def test_a_redefined_class_replaces_the_old_one() -> None:
    def define() -> type:
        class Redefined(_Base):
            type = "x-redefined"
            priority = 3

        return Redefined

    first, second = define(), define()
    try:
        assert first not in MediaStreamRegistry and second in MediaStreamRegistry
    finally:
        MediaStreamRegistry.remove(second)
