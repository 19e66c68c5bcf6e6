"""IMediaStream's own behaviour, common to every stream type."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from test_streams_msrp_base import account as msrp_account
from test_streams_rtp_audio import settings_account

from sipsimple.streams import AudioStream, ChatStream
from sipsimple.streams.interface import IMediaStream


def _chat() -> IMediaStream:
    return ChatStream(msrp_account())


@pytest.mark.parametrize("make", [lambda: AudioStream(settings_account()), _chat],
                         ids=["audio", "chat"])
def test_a_stream_holds_its_session_weakly(make: Any) -> None:
    # The session holds its streams: a strong reference back made a cycle that kept
    # each ended call's objects until a full garbage collection (bench/README.md, soak).
    class Owner:
        streams: list[Any]

    stream = make()
    session = Owner()
    session.streams = [stream]
    stream.session = session
    assert stream.session is session
    freed = weakref.ref(session)
    gc.disable()
    try:
        del session
        assert freed() is None
    finally:
        gc.enable()
    assert stream.session is None
