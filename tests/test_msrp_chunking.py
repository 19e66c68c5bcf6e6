"""The sender's chunks: sizes, Byte-Ranges, flags, priorities, supply, abort (RFC 4975 7.1.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.msrp.protocol.chunking import CHAT, FILE, Chunk, Chunker
from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.headers import ByteRange


def drain(chunker: Chunker) -> list[Chunk]:
    chunks = []
    while (chunk := chunker.next_chunk()) is not None:
        chunks.append(chunk)
    return chunks


def test_small_message_is_one_chunk() -> None:
    chunker = Chunker(chunk_size=100)
    chunker.add("msg00001", "text/plain", b"hello")
    (chunk,) = drain(chunker)
    assert (bytes(chunk.data), chunk.continuation) == (b"hello", "$")
    assert chunk.byte_range == ByteRange(1, 5, 5)
    assert len(chunker) == 0


def test_empty_message_sends_one_empty_chunk() -> None:
    chunker = Chunker()
    chunker.add("msg00001", "text/plain", b"")
    (chunk,) = drain(chunker)
    assert chunk.byte_range == ByteRange(1, 0, 0) and chunk.continuation == "$"


def test_large_message_in_chunks_without_copies() -> None:
    data = bytes(range(256)) * 10
    chunker = Chunker(chunk_size=1000)
    chunker.add("file0001", "application/octet-stream", data, priority=FILE)
    chunks = drain(chunker)
    assert [c.byte_range for c in chunks] == [
        ByteRange(1, 1000, 2560), ByteRange(1001, 2000, 2560), ByteRange(2001, 2560, 2560)]
    assert [c.continuation for c in chunks] == ["+", "+", "$"]
    assert all(c.data.obj is data for c in chunks)
    assert b"".join(bytes(c.data) for c in chunks) == data


def test_chat_message_goes_between_two_chunks_of_a_file() -> None:
    chunker = Chunker(chunk_size=1000)
    chunker.add("file0001", "application/octet-stream", b"f" * 5000, priority=FILE)
    first = chunker.next_chunk()
    assert first is not None and first.message_id == "file0001"
    chunker.add("chat0001", "text/plain", b"hi", priority=CHAT)
    order = [chunk.message_id for chunk in drain(chunker)]
    assert order == ["chat0001", "file0001", "file0001", "file0001", "file0001"]


def test_same_priority_goes_in_order() -> None:
    chunker = Chunker(chunk_size=10)
    chunker.add("aaaa0001", "text/plain", b"a" * 15)
    chunker.add("bbbb0001", "text/plain", b"b")
    assert [c.message_id for c in drain(chunker)] == ["aaaa0001", "aaaa0001", "bbbb0001"]


def test_supplied_data_with_unknown_total() -> None:
    chunker = Chunker(chunk_size=4)
    chunker.add("strm0001", "application/octet-stream", None, priority=FILE)
    assert chunker.wants_data() == ["strm0001"] and chunker.next_chunk() is None
    chunker.supply("strm0001", b"ab")
    chunker.supply("strm0001", b"cdef")
    first = chunker.next_chunk()
    assert first is not None and bytes(first.data) == b"abcd"
    assert first.byte_range == ByteRange(1, 4, None) and first.continuation == "+"
    chunker.supply("strm0001", b"g", final=True)
    last = chunker.next_chunk()
    assert last is not None and bytes(last.data) == b"efg"
    assert last.byte_range == ByteRange(5, 7, 7) and last.continuation == "$"
    assert chunker.wants_data() == []


def test_supply_checks_the_total() -> None:
    chunker = Chunker()
    chunker.add("strm0001", "a/b", None, total=3)
    with pytest.raises(MSRPError):
        chunker.supply("strm0001", b"abcd")
    chunker.add("strm0002", "a/b", None, total=3)
    with pytest.raises(MSRPError):
        chunker.supply("strm0002", b"ab", final=True)
    with pytest.raises(MSRPError):
        chunker.supply("nope0001", b"x")
    with pytest.raises(MSRPError):
        chunker.add("strm0001", "a/b", b"x")  # queued already
    with pytest.raises(MSRPError):
        chunker.add("x", "a/b", b"x")  # not an ident


def test_abort_sends_an_empty_hash_chunk() -> None:
    chunker = Chunker(chunk_size=10)
    chunker.add("file0001", "a/b", b"x" * 100, priority=FILE)
    assert chunker.next_chunk() is not None
    chunker.abort("file0001")
    (chunk,) = drain(chunker)
    assert chunk.continuation == "#" and len(chunk.data) == 0 and chunk.start == 11
    assert "file0001" not in chunker


@given(st.lists(st.binary(max_size=50), max_size=10), st.integers(1, 40))
def test_supplied_pieces_come_out_whole_and_in_order(pieces: list[bytes], size: int) -> None:
    chunker = Chunker(chunk_size=size)
    chunker.add("strm0001", "a/b", None)
    out = b""
    for piece in pieces:
        chunker.supply("strm0001", piece)
        while (chunk := chunker.next_chunk()) is not None:
            assert len(chunk.data) <= size and chunk.start == len(out) + 1
            assert chunk.continuation == "+"
            out += bytes(chunk.data)
    chunker.supply("strm0001", b"", final=True)
    rest = drain(chunker)
    assert rest[-1].continuation == "$" and rest[-1].total == len(b"".join(pieces))
    assert out + b"".join(bytes(c.data) for c in rest) == b"".join(pieces)


def test_an_offset_skips_the_first_bytes_of_a_file() -> None:
    chunker = Chunker(chunk_size=100)
    chunker.add("file0001", "application/octet-stream", total=250, offset=120, priority=FILE)
    chunker.supply("file0001", b"x" * 130, final=True)
    chunks = drain(chunker)
    assert [c.byte_range for c in chunks] == [ByteRange(121, 220, 250), ByteRange(221, 250, 250)]
    assert chunks[-1].continuation == "$"
    for bad in ({"offset": -1}, {"offset": 5}, {"offset": 300, "total": 250}):
        with pytest.raises(MSRPError):
            chunker.add("file0002", "application/octet-stream", **bad)  # type: ignore[arg-type]
    with pytest.raises(MSRPError):
        chunker.add("file0003", "text/plain", b"data", offset=1)
