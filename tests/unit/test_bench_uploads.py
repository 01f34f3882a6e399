"""The bench's upload phase without running it: its options, its files, its clients, its table.

Nothing here starts a process or measures a timing.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest

from bench import uploads
from bench.cli import parse_args
from services.documents.checks import signature_matches
from services.documents.store import CHUNK_BYTES, MAX_DOCUMENT_BYTES_DEFAULT

KiB, MiB = 1024, 1024 * 1024


def test_by_default_the_phase_runs_three_sizes_with_as_many_writers_as_intakes_pool() -> None:
    args = parse_args([])

    assert args.only is None
    assert args.upload_sizes == [256 * KiB, 2 * MiB, 10 * MiB]
    assert args.upload_concurrency == 4


def test_only_uploads_and_its_options_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTAKE_DATABASE_POOL_SIZE", raising=False)
    args = parse_args(["--only", "uploads", "--upload-sizes", "64K, 1MiB,64k", "--upload-mib", "8",
                       "--upload-concurrency", "2"])

    assert args.only == "uploads"
    assert args.upload_sizes == [64 * KiB, MiB]
    assert (args.upload_mib, args.upload_concurrency) == (8, 2)


@pytest.mark.parametrize("text", ["0", "10", "21M", "2G", "big", ""])
def test_a_size_the_store_would_refuse_or_not_a_size_is_an_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        uploads.file_sizes(text)


def test_the_largest_size_is_the_per_document_limit() -> None:
    assert uploads.file_size("20M") == MAX_DOCUMENT_BYTES_DEFAULT


def test_more_uploads_at_once_than_intakes_pool_has_connections_may_be_asked_for() -> None:
    assert parse_args(["--upload-concurrency", "8"]).upload_concurrency == 8


def test_files_add_up_to_the_amount_asked_the_same_even_number_per_client() -> None:
    assert uploads.files_for(256 * KiB, 320, 3) == 1284
    assert uploads.files_for(256 * KiB, 320, 4) == 1280
    assert uploads.files_for(10 * MiB, 320, 3) == 36
    assert uploads.files_for(10 * MiB, 1, 3) == 6


def test_every_file_is_a_distinct_pdf_of_its_size() -> None:
    files = uploads.build_files(300 * KiB, 4)

    assert len({f.sha256 for f in files}) == 4
    for f in files:
        assert len(f.data) == 300 * KiB
        assert signature_matches("application/pdf", f.data[:16])
        assert f.data.endswith(b"%%EOF\n")
        assert hashlib.sha256(f.data).hexdigest() == f.sha256


async def test_a_file_is_given_to_the_store_in_chunks_of_its_own_size() -> None:
    data = uploads.a_pdf(2 * CHUNK_BYTES + 5)

    chunks = [chunk async for chunk in uploads.chunked(data)]

    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 5]
    assert b"".join(chunks) == data


def test_the_clients_are_portal_and_desk_in_turn_one_per_worker(tmp_path: Path) -> None:
    deployment = uploads.BenchUploads("127.0.0.1:1", "postgresql://nowhere/db", work_dir=tmp_path, port=1,
                                      routing_port=2, workers=3)

    entries = deployment.clients()

    assert [e["party"] for e in entries] == ["portal", "desk", "portal"]
    assert entries[1]["agency_id"] is not None
    assert all(set(e["roles"]) >= {"dossier:submit"} for e in entries)
    assert len({e["client_id"] for e in entries}) == 3
    assert deployment.baseline_schema in deployment.schemas
    assert deployment.process_names == ("intake",)


def test_the_ratio_compares_each_baseline_with_the_upload_of_the_same_size() -> None:
    run = uploads.UploadRun([uploads.Line(uploads.HTTP, MiB, 10, 2.0), uploads.Line(uploads.STORE, MiB, 10, 1.0),
                             uploads.Line(uploads.RAW, MiB, 10, 0.5)], concurrency=3, intake_pool_size=4)

    http, store, raw = run.lines
    assert http.mb_per_second == pytest.approx(10 * MiB / 1e6 / 2.0)
    assert http.files_per_second == 5.0
    assert run.ratio(http) is None
    assert run.ratio(store) == pytest.approx(0.5)
    assert run.ratio(raw) == pytest.approx(0.25)
    assert [line["http_ratio"] for line in run.as_dict()["lines"]] == [None, 0.5, 0.25]
