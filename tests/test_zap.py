"""The services' ZAP handler: libzmq's authentication requests in, replies out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sipsimple.bus.auth import Credentials
from sipsimple_services.common.zap import answer


def zap(mechanism: bytes, *credentials: bytes, domain: bytes = b"sipsimple") -> list[bytes]:
    return [b"1.0", b"7", domain, b"", b"\x00\x01", mechanism, *credentials]


def test_a_proven_client_is_accepted_with_its_id(tmp_path: Path) -> None:
    me = Credentials.generate()
    reply = answer(zap(b"PLAIN", me.client_id.encode(), me.secret_key), tmp_path, "test")
    assert reply == [b"1.0", b"7", b"200", b"OK", me.client_id.encode(), b""]


def test_others_are_refused(tmp_path: Path) -> None:
    me, other = Credentials.generate(), Credentials.generate()
    for request in (
        zap(b"PLAIN", other.client_id.encode(), me.secret_key),
        zap(b"NULL"),
        zap(b"CURVE", b"\x01" * 32),
        zap(b"PLAIN", me.client_id.encode(), me.secret_key, domain=b"elsewhere"),
    ):
        reply = answer(request, tmp_path, "test")
        assert reply[:3] == [b"1.0", b"7", b"400"] and reply[4] == b""


WELL_FRAMED = st.builds(
    lambda mechanism, credentials: [b"1.0", b"1", b"sipsimple", b"", b"", mechanism, *credentials],
    st.sampled_from([b"PLAIN", b"CURVE", b"NULL", b"GSSAPI", b""]),
    st.lists(st.one_of(st.binary(max_size=48), st.binary(min_size=32, max_size=32)), max_size=3),
)


@given(st.one_of(st.lists(st.binary(max_size=64), max_size=10), WELL_FRAMED))
def test_any_frames_get_a_well_formed_refusal_or_answer(frames: list[bytes]) -> None:
    reply = answer(frames, Path("/nonexistent"), "test")
    assert len(reply) == 6
    assert reply[2] in (b"200", b"400")
    if reply[2] == b"200":  # only a real proof gets in, which random bytes are not
        raise AssertionError(frames)
