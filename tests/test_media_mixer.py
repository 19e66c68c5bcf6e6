"""The conference mixer: connections, sums with clipping, one pull per port per tick."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.mixer import FRAME_SAMPLES, AudioFrame, Mixer, MixerError, Port, mix


class Constant(Port):
    """Gives a constant frame; remembers what it heard and how it was pulled."""

    def __init__(self, port_id: str, value: int | None, wants_input: bool = True) -> None:
        super().__init__(port_id)
        self.value = value
        self.wants_input = wants_input
        self.heard: list[AudioFrame | None] = []
        self.pulls: list[bool] = []

    def pull(self, needed: bool) -> AudioFrame | None:
        self.pulls.append(needed)
        if self.value is None:
            return None
        return np.full(FRAME_SAMPLES, self.value, dtype=np.int16)

    def push(self, frame: AudioFrame | None) -> None:
        self.heard.append(frame)


class Broken(Port):
    def pull(self, needed: bool) -> AudioFrame | None:
        raise RuntimeError("broken")

    def push(self, frame: AudioFrame | None) -> None:
        raise RuntimeError("broken")


def level(frame: AudioFrame | None) -> int | None:
    return None if frame is None else int(frame[0])


def mixer(*ports: Port) -> Mixer:
    m = Mixer("voice")
    for port in ports:
        m.add(port)
    return m


def test_sinks_hear_the_sum_of_their_sources() -> None:
    a, b, c = Constant("a", 100), Constant("b", -30), Constant("c", 7)
    m = mixer(a, b, c)
    m.connect("a", "c")
    m.connect("b", "c")
    m.connect("c", "a")
    heard = m.tick()
    assert level(heard["c"]) == 70 and level(heard["a"]) == 7 and heard["b"] is None
    assert level(c.heard[0]) == 70 and b.heard == [None]
    assert m.sources("c") == ["a", "b"] and m.sinks("a") == ["c"]


def test_sums_are_clipped() -> None:
    m = mixer(Constant("a", 30000), Constant("b", 30000), Constant("n", -30000),
              Constant("o", -30000), Constant("s", 0))
    m.connect("a", "s")
    m.connect("b", "s")
    assert level(m.tick()["s"]) == 32767
    m.disconnect("a", "s")
    m.disconnect("b", "s")
    m.connect("n", "s")
    m.connect("o", "s")
    assert level(m.tick()["s"]) == -32768


def test_silent_sources_cost_nothing() -> None:
    quiet, sink = Constant("q", None), Constant("s", 0)
    m = mixer(quiet, sink)
    m.connect("q", "s")
    assert m.tick()["s"] is None


def test_every_port_is_pulled_once_per_tick_and_told_if_needed() -> None:
    a, nobody, null = Constant("a", 1), Constant("n", 1), Constant("d", None, wants_input=False)
    m = mixer(a, nobody, null)
    m.connect("a", "d")  # a device that discards: a is not needed
    m.connect("n", "a")
    heard = m.tick()
    m.tick()
    assert a.pulls == [False, False] and nobody.pulls == [True, True] and null.pulls == [False] * 2
    assert "d" not in heard and null.heard == []
    assert m.frame_index == 2


def test_a_port_may_hear_itself() -> None:
    echo = Constant("e", 5)
    m = mixer(echo)
    m.connect("e", "e")
    assert level(m.tick()["e"]) == 5


def test_connections_are_idempotent_and_removed_with_the_port() -> None:
    m = mixer(Constant("a", 1), Constant("b", 2))
    m.connect("a", "b")
    m.connect("a", "b")
    assert level(m.tick()["b"]) == 1
    m.remove("a")
    assert m.sources("b") == [] and m.tick()["b"] is None
    m.disconnect("b", "b")  # nothing to undo


def test_unknown_and_duplicate_ports() -> None:
    m = mixer(Constant("a", 1))
    with pytest.raises(MixerError):
        m.add(Constant("a", 2))
    for call in (lambda: m.connect("a", "x"), lambda: m.connect("x", "a"),
                 lambda: m.disconnect("a", "x"), lambda: m.remove("x"),
                 lambda: m.sources("x"), lambda: m.sinks("x")):
        with pytest.raises(MixerError):
            call()


def test_a_broken_port_does_not_stop_the_others() -> None:
    a, sink = Constant("a", 9), Constant("s", 0)
    m = mixer(Broken("x"), a, sink)
    m.connect("x", "s")
    m.connect("a", "s")
    assert level(m.tick()["s"]) == 9
    assert [port for port, _ in m.errors] == ["x", "x"]  # its pull and its push


@given(st.lists(st.integers(-32768, 32767), min_size=0, max_size=6))
def test_mix_is_the_clipped_sum(values: list[int]) -> None:
    frames = [np.full(4, v, dtype=np.int16) for v in values]
    result = mix([*frames, None])
    if not values:
        assert result is None
    else:
        assert result is not None
        assert int(result[0]) == max(-32768, min(32767, sum(values)))


def test_ports_removed_or_added_during_a_pause() -> None:
    # The engine's tick pauses between ports to let requests in, which may end
    # a stream or add a port halfway through the frame.
    a, b, c = Constant("a", 5), Constant("b", 7), Constant("c", 0)
    m = mixer(a, b, c)
    m.connect("a", "c")
    m.connect("b", "c")
    m.connect("c", "b")
    calls = 0

    def pause() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # before b's pull: b leaves, d arrives and listens to a
            m.remove("b")
            m.add(Constant("d", 1))
            m.connect("a", "d")

    heard = m.tick(pause)
    assert level(heard["c"]) == 5  # b left before its pull: silent to c
    assert b.pulls == [] and b.heard == []
    assert "b" not in heard and "d" not in heard  # d joins at the next frame
    heard = m.tick(pause)
    assert level(heard["d"]) == 5 and level(heard["c"]) == 5


def test_a_conference_hears_everyone_but_itself_at_any_size() -> None:
    """N ports each hearing the N-1 others (mixed as the total minus its own frame)."""
    ports = [Constant(f"p{i}", 10 * (i + 1)) for i in range(8)]
    ports.append(Constant("quiet", None))
    m = mixer(*ports)
    for source in ports:
        for sink in ports:
            if source is not sink:
                m.connect(source.port_id, sink.port_id)
    heard = m.tick()
    total = sum(10 * (i + 1) for i in range(8))
    for i in range(8):
        assert level(heard[f"p{i}"]) == total - 10 * (i + 1)
    assert level(heard["quiet"]) == total
    m.disconnect("p0", "p1")  # p1 no longer hears p0
    m.remove("p7")
    heard = m.tick()
    assert level(heard["p1"]) == total - 80 - 20 - 10


class Values(Port):
    def __init__(self, port_id: str, values: list[int] | None) -> None:
        super().__init__(port_id)
        self.values = values

    def pull(self, needed: bool) -> AudioFrame | None:
        if self.values is None:
            return None
        return np.resize(np.array(self.values, dtype=np.int16), FRAME_SAMPLES)


@given(st.lists(st.one_of(st.none(), st.lists(st.integers(-32768, 32767), min_size=1,
                                                 max_size=3)), min_size=1, max_size=9),
       st.sets(st.tuples(st.integers(0, 8), st.integers(0, 8))))
def test_mix_minus_gives_the_clipped_sum_of_the_sources(
        frames: list[list[int] | None], edges: set[tuple[int, int]]) -> None:
    ports = [Values(f"p{i}", values) for i, values in enumerate(frames)]
    m = mixer(*ports)
    for source, sink in edges:
        if source < len(ports) and sink < len(ports):
            m.connect(f"p{source}", f"p{sink}")
    heard = m.tick()
    produced = {port.port_id: port.pull(True) for port in ports}
    for port in ports:
        expected = mix([produced[source] for source in m.sources(port.port_id)])
        got = heard[port.port_id]
        assert (got is None) == (expected is None)
        if got is not None and expected is not None:
            assert np.array_equal(got, expected)
