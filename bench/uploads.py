"""Upload throughput: documents PUT to intake over HTTP, beside the same bytes written straight
to the same PostgreSQL by the document store's own ``put``, and as raw ``bytea`` chunks.

For each file size (default 256 KiB, 2 MiB, 10 MiB) the bench builds distinct PDF files (the
signature ``%PDF-1.7``, random bytes, ``%%EOF``: nothing is deduplicated), ``--upload-mib`` of
each size rounded up to the same even number per client. The same files, the same bytes, are then
written three ways, ``--upload-concurrency`` U at a time, closed loop (each worker writes its next
file as soon as its previous one is done):

1. **HTTP**: ``PUT /v1/documents/{sha256}`` to intake's API process (a :class:`BenchUploads`
   deployment: ``intake`` alone, as a real process, its default pool), the raw body with
   ``Content-Type: application/pdf`` and ``Content-Length``; U workers, each with its own
   keep-alive connection and the token of its own API client (portal and desk clients in turn).
   Each answer must be 201: stored, and registered as the client's upload.
2. **store.put**: :class:`services.documents.postgres.PostgresDocumentStore` in a schema of the
   bench's own (``uploads_bench_<hex>``) on an asyncpg pool of U connections to the same
   database; each file given as chunks of 256 KiB. The store's checks, chunking, advisory lock,
   one transaction per file — no HTTP, no upload registry.
3. **raw INSERT**: the same bytes cut in chunks of 256 KiB, one ``INSERT`` per chunk into a plain
   table ``(file_id, n, bytes bytea)`` (storage ``EXTERNAL`` like the store's: the bytes are not
   compressed) of that schema, in one transaction per file, on a pool of U connections.

For one size, the first half of the files is written HTTP → store.put → raw, the second half
raw → store.put → HTTP (then the next size), so each way meets the database in about the same
state (checkpoints, table sizes, other load) and a drift during the size weighs on the three
alike; a way's time is the sum of its two halves. Intake stays up, idle, while the baselines
run.

A file's latency runs from its request (or call) to its answer. MB/s counts 10⁶ bytes of files.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench import load
from bench.deployment import PARTITIONS, BenchIntake
from bench.figures import percentile
from services.documents.postgres import PostgresDocumentStore
from services.documents.store import CHUNK_BYTES, MAX_DOCUMENT_BYTES_DEFAULT, Declared
from services.sandbox import client_entry
from services.settings import ServiceSettings

PDF_HEAD, PDF_TAIL = b"%PDF-1.7\n", b"\n%%EOF\n"
DEFAULT_SIZES = "256K,2M,10M"
DEFAULT_MIB = 320
DEFAULT_CONCURRENCY = 4
"""As many writers as intake's default database pool has connections."""
HTTP, STORE, RAW = "HTTP PUT", "store.put", "raw INSERT"
_SIZE = re.compile(r"(\d+)\s*([KM]?)(?:i?B)?", re.IGNORECASE)


# --- options --------------------------------------------------------------------------

def file_size(text: str) -> int:
    """``256K``, ``2M``, ``10MiB`` or a number of bytes; a valid PDF the store accepts by default."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 256K, 2M, 10M)")
    size = int(match[1]) * {"": 1, "K": 1024, "M": 1024 * 1024}[match[2].upper()]
    if not len(PDF_HEAD) + len(PDF_TAIL) < size <= MAX_DOCUMENT_BYTES_DEFAULT:
        raise argparse.ArgumentTypeError(
            f"{text}: a file must be over {len(PDF_HEAD) + len(PDF_TAIL)} B and at most the per-document "
            f"limit, {MAX_DOCUMENT_BYTES_DEFAULT // (1024 * 1024)} MiB")
    return size


def file_sizes(text: str) -> list[int]:
    """A comma-separated list of :func:`file_size`, each once, in the order given."""
    sizes = [file_size(part) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return list(dict.fromkeys(sizes))


def add_arguments(parser: argparse.ArgumentParser, positive: Callable[[str], int]) -> None:
    parser.add_argument("--upload-sizes", type=file_sizes, default=file_sizes(DEFAULT_SIZES), metavar="SIZES",
                        help="uploads: file sizes, comma-separated, K = KiB, M = MiB (default "
                             f"{DEFAULT_SIZES})")
    parser.add_argument("--upload-mib", type=positive, default=DEFAULT_MIB, metavar="MIB",
                        help="uploads: MiB of files of each size, written each of the three ways "
                             f"(rounded up to an even number of files per client) (default {DEFAULT_MIB})")
    parser.add_argument("--upload-concurrency", type=positive, default=DEFAULT_CONCURRENCY, metavar="U",
                        help="uploads: clients (HTTP) and connections (baselines) writing at once "
                             f"(default {DEFAULT_CONCURRENCY})")


def files_for(size: int, mib: int, concurrency: int) -> int:
    """How many files of ``size`` make ``mib`` MiB, rounded up to a multiple of twice ``concurrency``
    (written in two halves, every client writing as many in each)."""
    return 2 * concurrency * max(1, math.ceil(mib * 1024 * 1024 / size / (2 * concurrency)))


def human_size(size: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} B"


# --- the files ------------------------------------------------------------------------

@dataclass(frozen=True)
class File:
    sha256: str
    data: bytes


def a_pdf(size: int) -> bytes:
    """``size`` bytes that the store takes as a PDF: the signature, random bytes, the end marker."""
    return PDF_HEAD + os.urandom(size - len(PDF_HEAD) - len(PDF_TAIL)) + PDF_TAIL


def build_files(size: int, count: int) -> list[File]:
    files = []
    for _ in range(count):
        data = a_pdf(size)
        files.append(File(hashlib.sha256(data).hexdigest(), data))
    return files


async def chunked(data: bytes, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """``data`` as an uploader's stream of ``size``-byte chunks."""
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start:start + size])


# --- the deployment -------------------------------------------------------------------

@dataclass
class BenchUploads(BenchIntake):
    """Intake's API process alone, with ``workers`` API clients (portal and desk in turn), and a
    schema of the bench's own for the baselines."""

    workers: int = DEFAULT_CONCURRENCY
    uploaders: list[tuple[str, str, str]] = field(default_factory=list)
    """``(client id, party, secret)`` of each worker's API client."""

    def __post_init__(self) -> None:
        super().__post_init__()
        parties = ("portal", "desk")
        self.uploaders = [(f"bench-{parties[i % 2]}-{i}-{self.suffix}", parties[i % 2], secrets.token_urlsafe(32))
                          for i in range(self.workers)]

    @property
    def baseline_schema(self) -> str:
        return f"uploads_{self.label}_{self.suffix}"

    @property
    def schemas(self) -> list[str]:
        return [self.intake_schema, self.documents_schema, self.baseline_schema]

    @property
    def topic_partitions(self) -> dict[str, int]:
        return {self.events_topic: PARTITIONS}

    @property
    def process_names(self) -> tuple[str, ...]:
        return ("intake",)

    def clients(self) -> list[dict[str, object]]:
        return [client_entry(client_id, party, load.RECEIVING_DESK if party == "desk" else None,
                             ["dossier:submit", "dossier:read"], secret)
                for client_id, party, secret in self.uploaders]

    def uploader_tokens(self) -> list[str]:
        return [self.client_token(client_id, secret) for client_id, _, secret in self.uploaders]


# --- measuring ------------------------------------------------------------------------

Writer = Callable[[File], Awaitable[str | None]]
"""Writes one file one way; returns None, or what went wrong."""


@dataclass
class Line:
    """One way of writing ``files`` files of ``size`` bytes: how long, and each file's latency."""

    method: str
    size: int
    files: int
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    failures: int = 0

    @property
    def bytes(self) -> int:
        return self.files * self.size

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def p_ms(self, q: float) -> float | None:
        value = percentile(self.latencies, q)
        return None if value is None else value * 1000

    def as_dict(self) -> dict[str, Any]:
        p50, p99 = self.p_ms(0.5), self.p_ms(0.99)
        return {"method": self.method, "size_bytes": self.size, "files": self.files, "failures": self.failures,
                "bytes": self.bytes, "seconds": round(self.seconds, 3), "mb_per_second": round(self.mb_per_second, 2),
                "files_per_second": round(self.files_per_second, 2),
                "p50_ms": None if p50 is None else round(p50, 2), "p99_ms": None if p99 is None else round(p99, 2)}


@dataclass
class UploadRun:
    lines: list[Line]
    concurrency: int
    intake_pool_size: int
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def http(self, size: int) -> Line | None:
        return next((line for line in self.lines if line.size == size and line.method == HTTP), None)

    def ratio(self, line: Line) -> float | None:
        """The HTTP upload's MB/s over ``line``'s (the same files, so also its files/s over the line's)."""
        http = self.http(line.size)
        if http is None or line.method == HTTP or not line.mb_per_second:
            return None
        return http.mb_per_second / line.mb_per_second

    def as_dict(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "intake_pool_size": self.intake_pool_size,
                "lines": [{**line.as_dict(), "http_ratio": None if (r := self.ratio(line)) is None else round(r, 4)}
                          for line in self.lines],
                "cpu_during_http": self.cpu, "failed_examples": self.errors[:3]}


async def closed_loop(files: list[File], workers: list[Writer],
                      on_done: Callable[[], None]) -> tuple[float, list[float], list[str]]:
    """Each worker writes the next file as soon as its previous one is done; the wall time, each
    file's latency and the errors (a worker returns an error's text, or None)."""
    remaining = iter(files)
    latencies: list[float] = []
    errors: list[str] = []

    async def run(write: Writer) -> None:
        for file in remaining:
            t0 = time.perf_counter()
            try:
                error = await write(file)
            except Exception as exc:  # a failed write is counted and shown; the run goes on
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                latencies.append(time.perf_counter() - t0)
            else:
                errors.append(f"{len(file.data):,} B file {file.sha256[:12]}…: {error}")
            on_done()

    started = time.perf_counter()
    await asyncio.gather(*(run(write) for write in workers))
    return time.perf_counter() - started, latencies, errors


def http_writer(client: httpx.AsyncClient, token: str) -> Writer:
    async def write(file: File) -> str | None:
        response = await client.put(f"/v1/documents/{file.sha256}", content=file.data, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/pdf",
            "Content-Length": str(len(file.data))})
        return None if response.status_code == 201 else f"HTTP {response.status_code}: {response.text[:300]}"
    return write


async def refresh(clients: list[httpx.AsyncClient]) -> None:
    """A ``GET /healthz`` on every client's connection, not timed, just before HTTP uploads.

    Between two HTTP halves a connection idles while the baselines run, longer than uvicorn keeps
    an idle connection open (5 s): the server closes it, and an upload sent just as it does fails
    with a ``ReadError``. The request reopens a closed connection (tried twice: it can meet the same
    race), so the uploads that follow start on a fresh one."""
    async def one(client: httpx.AsyncClient) -> None:
        for attempt in range(2):
            try:
                (await client.get("/healthz")).raise_for_status()
                return
            except httpx.TransportError:
                if attempt:
                    raise
    await asyncio.gather(*(one(client) for client in clients))


async def store_writer(stack: AsyncExitStack, database_url: str, schema: str, concurrency: int) -> Writer:
    """The document store's own ``put`` in ``schema``, on a pool of ``concurrency`` connections."""
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    stack.push_async_callback(pool.close)
    store = PostgresDocumentStore(pool, schema)
    await store.create_tables()

    async def put(file: File) -> str | None:
        await store.put(Declared(file.sha256, len(file.data), "application/pdf"), chunked(file.data))
        return None
    return put


async def raw_writer(stack: AsyncExitStack, database_url: str, schema: str, concurrency: int) -> Writer:
    """Chunks of 256 KiB INSERTed into a plain table of ``schema``, one transaction per file."""
    table = f'"{schema}".raw_chunks'
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    stack.push_async_callback(pool.close)
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {table} (file_id integer NOT NULL, n integer NOT NULL, "
                           "bytes bytea NOT NULL, PRIMARY KEY (file_id, n))")
        await conn.execute(f"ALTER TABLE {table} ALTER COLUMN bytes SET STORAGE EXTERNAL")
    insert = f"INSERT INTO {table} (file_id, n, bytes) VALUES ($1, $2, $3)"
    ids = iter(range(1, 1 << 31))

    async def write(file: File) -> str | None:
        file_id = next(ids)
        view = memoryview(file.data)
        async with pool.acquire() as conn, conn.transaction():
            for n, start in enumerate(range(0, len(view), CHUNK_BYTES)):
                await conn.execute(insert, file_id, n, bytes(view[start:start + CHUNK_BYTES]))
        return None
    return write


async def measure_uploads(deployment: BenchUploads, args: argparse.Namespace, console: Console,
                          progress: Callable[[], Progress]) -> UploadRun:
    """For each size, one size after the other: the first half of its files uploaded to intake over
    HTTP, written by the store's ``put``, as raw INSERTs; then the second half in the reverse order
    (raw, put, HTTP), so a drift of the machine during the size weighs on the three alike. Intake
    stays up, idle, during the baselines. Each way's seconds are the sum of its two halves."""
    u = args.upload_concurrency
    with console.status("Building the files…"):
        files = {size: build_files(size, files_for(size, args.upload_mib, u)) for size in args.upload_sizes}
    run = UploadRun([], u, intake_pool_size())
    with console.status(f"Starting intake on port {deployment.port} for the uploads…"):
        await deployment.start()
    intake = deployment.processes["intake"]
    console.print(f"intake running (pid {intake.pid}), document schema {deployment.documents_schema}; "
                  f"baseline schema {deployment.baseline_schema}")
    tokens = deployment.uploader_tokens()
    async with AsyncExitStack() as stack:
        clients = await stack.enter_async_context(load.Clients(deployment.base_url, len(tokens)))
        http = [http_writer(client, token) for client, token in zip(clients, tokens, strict=True)]
        put = await store_writer(stack, deployment.database_url, deployment.baseline_schema, u)
        raw = await raw_writer(stack, deployment.database_url, deployment.baseline_schema, u)
        with progress() as bar:
            warm = build_files(min(files), len(http))  # opens every HTTP connection; not counted
            task = bar.add_task("warm-up: uploads", total=len(warm))
            _, _, errors = await closed_loop(warm, http, lambda: bar.advance(task))
            if errors:
                raise RuntimeError(f"warm-up uploads failed: {errors[0]}")
            cpu = {"intake": 0.0, "load generator": 0.0}
            writers = {HTTP: http, STORE: [put] * u, RAW: [raw] * u}
            for size, batch in files.items():
                halves = batch[:len(batch) // 2], batch[len(batch) // 2:]
                parts: dict[str, list[tuple[float, list[float], list[str]]]] = {method: [] for method in writers}
                for method, half in ((HTTP, 0), (STORE, 0), (RAW, 0), (RAW, 1), (STORE, 1), (HTTP, 1)):
                    task = bar.add_task(f"{human_size(size)} files, {('1st', '2nd')[half]} half: {method}",
                                        total=len(halves[half]))
                    if method == HTTP:
                        await refresh(clients)
                    before = (intake.cpu_seconds(), time.process_time())
                    parts[method].append(await closed_loop(halves[half], writers[method], partial(bar.advance, task)))
                    if method == HTTP:
                        cpu["intake"] += intake.cpu_seconds() - before[0]
                        cpu["load generator"] += time.process_time() - before[1]
                        deployment.check_alive()
                for method, measured in parts.items():
                    errors = [error for _, _, part_errors in measured for error in part_errors]
                    run.lines.append(Line(method, size, len(batch) - len(errors), sum(p[0] for p in measured),
                                          [latency for _, part, _ in measured for latency in part], len(errors)))
                    run.errors += errors
    deployment.stop()
    http_lines = [line for line in run.lines if line.method == HTTP]
    megabytes, wall = sum(line.bytes for line in http_lines) / 1e6, sum(line.seconds for line in http_lines)
    run.cpu = {name: {"ms_per_mb": round(1000 * seconds / max(megabytes, 1e-9), 2),
                      "share_of_one_core": round(seconds / wall, 2) if wall else 0.0} for name, seconds in cpu.items()}
    return run


def intake_pool_size() -> int:
    """The database pool of the bench's intake: ``INTAKE_DATABASE_POOL_SIZE`` when set, else the default."""
    return int(os.environ.get("INTAKE_DATABASE_POOL_SIZE",
                              ServiceSettings.model_fields["database_pool_size"].default))


# --- the report -----------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def uploads_table(run: UploadRun) -> Table:
    table = Table(title=f"uploads — U={run.concurrency} clients / connections, the same files each way",
                  title_justify="left")
    table.add_column("size", no_wrap=True)
    table.add_column("measured", no_wrap=True)
    for column in ("files", "fail", "MiB", "MB/s", "files/s", "p50 ms", "p99 ms", "HTTP ÷ this"):
        table.add_column(column, justify="right", no_wrap=True)
    previous = None
    for line in run.lines:
        r = run.ratio(line)
        table.add_row(human_size(line.size) if line.size != previous else "", line.method, f"{line.files:,}",
                      str(line.failures or ""), f"{line.bytes / (1024 * 1024):,.0f}", f"{line.mb_per_second:,.1f}",
                      f"{line.files_per_second:,.1f}", _ms(line.p_ms(0.5)), _ms(line.p_ms(0.99)),
                      "" if r is None else f"{r:.2f}", end_section=False)
        previous = line.size
    return table


def print_uploads(console: Console, run: UploadRun) -> None:
    console.print(uploads_table(run))
    for error in run.errors[:3]:
        console.print(f"[red]failed upload:[/red] {error}")
    console.print(f"  [dim]{HTTP}: PUT /v1/documents/{{sha256}} to intake's API process, raw body, 201 = stored "
                  f"and registered; {run.concurrency} API clients (portal and desk), one keep-alive connection "
                  f"each; intake's blob pool holds {run.intake_pool_size} connections and a put holds one "
                  f"for the whole transfer[/dim]")
    console.print(f"  [dim]{STORE}: PostgresDocumentStore.put in the bench's schema, 256 KiB chunks in, on a "
                  f"pool of {run.concurrency} connections[/dim]")
    console.print(f"  [dim]{RAW}: one INSERT per 256 KiB chunk into a plain bytea table, one transaction per "
                  f"file, {run.concurrency} connections[/dim]")
    console.print("  [dim]MB = 10⁶ bytes; 'HTTP ÷ this' divides the HTTP upload's rate by the line's[/dim]")
    if run.cpu:
        console.print("CPU during the HTTP uploads: " + ", ".join(
            f"{name} {use['ms_per_mb']} ms per MB ({use['share_of_one_core']:.0%} of a core)"
            for name, use in run.cpu.items()))
