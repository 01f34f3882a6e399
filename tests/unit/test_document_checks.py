"""The checks a document passes while it streams into the store (services/documents/checks.py),
on in-memory streams: every refusal, and the bytes that pass unchanged whatever their chunking."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable

import pytest

from services.documents.checks import SIGNATURE_BYTES, Checked
from services.documents.postgres import exact_chunks
from services.documents.store import (
    CHUNK_BYTES,
    DocumentTooLargeError,
    HashMismatchError,
    Limits,
    MediaTypeMismatchError,
    SizeMismatchError,
)
from tests.support.documents import HEADS, JPEG, PDF, PNG, a_file, declared_for, streamed

LIMITS = Limits(max_document_bytes=64 * 1024)


def cut(data: bytes, sizes: Iterable[int]) -> list[bytes]:
    """``data`` in pieces of the given sizes, cycled until the end."""
    pieces: list[bytes] = []
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(data):
            return pieces
        pieces.append(data[start:start + size])
        start += size
    raise AssertionError("unreachable")


async def passed(checked: Checked) -> bytes:
    return b"".join([chunk async for chunk in checked])


# --- refused before a byte is read ---------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["application/zip", "text/html", "image/gif", "application/PDF", ""])
def test_a_media_type_the_store_does_not_accept_is_refused_from_the_declaration(media_type: str) -> None:
    data = a_file(PDF)

    with pytest.raises(MediaTypeMismatchError, match="không được nhận"):
        Checked(declared_for(data, media_type), streamed([data]), LIMITS)


def test_a_declared_size_over_the_limit_is_refused_from_the_declaration() -> None:
    data = a_file(PDF)

    with pytest.raises(DocumentTooLargeError):
        Checked(declared_for(data, PDF, size_bytes=LIMITS.max_document_bytes + 1), streamed([data]), LIMITS)


@pytest.mark.parametrize("size", [0, -1])
def test_an_empty_file_is_refused_from_the_declaration(size: int) -> None:
    with pytest.raises(SizeMismatchError, match="rỗng"):
        Checked(declared_for(b"", PDF, size_bytes=size), streamed([]), LIMITS)


# --- refused while the bytes stream --------------------------------------------------------------


@pytest.mark.parametrize(("declared_type", "actual_type"), [(PDF, PNG), (PDF, JPEG), (JPEG, PDF), (JPEG, PNG),
                                                            (PNG, PDF), (PNG, JPEG)])
async def test_bytes_whose_signature_contradicts_the_declared_type_are_refused_as_they_stream(
        declared_type: str, actual_type: str) -> None:
    data = a_file(actual_type)
    checked = Checked(declared_for(data, declared_type), streamed(cut(data, [3, 1, 5])), LIMITS)

    yielded: list[bytes] = []
    with pytest.raises(MediaTypeMismatchError, match=declared_type):
        async for chunk in checked:
            yielded.append(chunk)

    # The refusal comes once the signature's bytes have arrived, not at the end of the file.
    assert sum(map(len, yielded)) < SIGNATURE_BYTES


async def test_a_file_shorter_than_a_signature_that_does_not_match_is_refused_at_the_end() -> None:
    data = b"%PDF"
    checked = Checked(declared_for(data, PDF), streamed([data]), LIMITS)

    assert await passed(checked) == data
    with pytest.raises(MediaTypeMismatchError):
        checked.verify()


async def test_more_bytes_than_the_limit_are_refused_before_the_stream_ends() -> None:
    head = HEADS[PDF]
    endless = (head if i == 0 else os.urandom(4096) for i in itertools.count())
    checked = Checked(declared_for(head, PDF, size_bytes=LIMITS.max_document_bytes), streamed(endless), LIMITS)

    with pytest.raises(DocumentTooLargeError):
        await passed(checked)

    assert checked.size <= LIMITS.max_document_bytes + 4096


async def test_more_bytes_than_declared_are_refused_before_the_stream_ends() -> None:
    data = a_file(PNG)
    endless = itertools.chain(cut(data, [1000]), (os.urandom(100) for _ in itertools.count()))
    checked = Checked(declared_for(data, PNG), streamed(endless), LIMITS)

    with pytest.raises(SizeMismatchError, match="dài hơn"):
        await passed(checked)

    assert checked.size <= len(data) + 100


async def test_fewer_bytes_than_declared_are_refused_when_the_stream_ends() -> None:
    data = a_file(JPEG)
    checked = Checked(declared_for(data, JPEG), streamed([data[:-1]]), LIMITS)

    await passed(checked)
    with pytest.raises(SizeMismatchError, match=f"dài {len(data) - 1} byte, đã khai {len(data)}"):
        checked.verify()


@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]])
async def test_a_stream_that_sends_no_bytes_is_refused_when_it_ends(chunks: list[bytes]) -> None:
    data = a_file(PDF)
    checked = Checked(declared_for(data, PDF), streamed(chunks), LIMITS)

    assert await passed(checked) == b""
    with pytest.raises(SizeMismatchError):
        checked.verify()


async def test_bytes_whose_sha256_is_not_the_declared_one_are_refused_when_the_stream_ends() -> None:
    data = a_file(PDF)
    altered = data[:-1] + bytes([data[-1] ^ 1])
    checked = Checked(declared_for(data, PDF), streamed([altered]), LIMITS)

    await passed(checked)
    with pytest.raises(HashMismatchError, match=hashlib.sha256(altered).hexdigest()):
        checked.verify()


@pytest.mark.parametrize("written", ["upper", "short", "not hex"])
def test_a_declared_sha256_not_written_as_64_lowercase_hex_digits_is_refused_before_any_byte(written: str) -> None:
    data = a_file(PDF)
    digest = hashlib.sha256(data).hexdigest()
    declared = {"upper": digest.upper(), "short": digest[:63], "not hex": "z" * 64}[written]

    with pytest.raises(HashMismatchError):
        Checked(declared_for(data, PDF, sha256=declared), streamed([data]), LIMITS)


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [PDF, JPEG, PNG])
@pytest.mark.parametrize("sizes", [[1], [2, 1, 3], [7, 13, 1021], [5000]], ids=str)
async def test_bytes_that_match_their_declaration_pass_unchanged_whatever_their_chunking(
        media_type: str, sizes: list[int]) -> None:
    data = a_file(media_type)
    pieces = cut(data, sizes)
    checked = Checked(declared_for(data, media_type), streamed(pieces), LIMITS)

    assert [chunk async for chunk in checked] == pieces
    checked.verify()
    assert checked.size == len(data)


async def test_empty_chunks_in_the_stream_are_skipped() -> None:
    data = a_file(PNG)
    checked = Checked(declared_for(data, PNG), streamed([b"", data[:2], b"", data[2:], b""]), LIMITS)

    assert [chunk async for chunk in checked] == [data[:2], data[2:]]
    checked.verify()


async def test_a_file_exactly_at_the_limit_passes() -> None:
    data = a_file(PDF, LIMITS.max_document_bytes)
    checked = Checked(declared_for(data, PDF), streamed(cut(data, [4096])), LIMITS)

    assert await passed(checked) == data
    checked.verify()


async def test_a_jpeg_shorter_than_the_longest_signature_passes_on_its_own_signature() -> None:
    data = b"\xff\xd8\xff\xd9"
    checked = Checked(declared_for(data, JPEG), streamed([data[:1], data[1:]]), LIMITS)

    assert await passed(checked) == data
    checked.verify()


# --- the PostgreSQL backend's re-chunking (services/documents/postgres.py) -----------------------


@pytest.mark.parametrize("sizes", [[997], [1000, 1], [CHUNK_BYTES], [CHUNK_BYTES + 1], [3 * CHUNK_BYTES + 5]],
                         ids=str)
async def test_chunks_are_cut_again_to_the_store_s_chunk_size_but_the_last(sizes: list[int]) -> None:
    data = os.urandom(2 * CHUNK_BYTES + 777)

    out = [chunk async for chunk in exact_chunks(streamed(cut(data, sizes)))]

    assert b"".join(out) == data
    assert [len(chunk) for chunk in out[:-1]] == [CHUNK_BYTES] * (len(out) - 1)
    assert 0 < len(out[-1]) <= CHUNK_BYTES
