"""Intake under load: valid submissions over HTTP, and the committed tail of its events topic.

Each of ``concurrency`` workers sends one submission at a time (closed loop) on an
``httpx.AsyncClient`` of its own, i.e. one keep-alive connection per worker. (One client
shared by 64 workers costs the load generator several times more CPU per request:
httpcore's pool scans every connection on each request, and on 2 cores that CPU is
taken from intake.) A 201 means intake stored the dossier's event in PostgreSQL. A
plain ``read_committed`` consumer tails the events topic from its end before the run and
notes when each record becomes readable; records are matched to requests by their key,
the dossier code of the 201's ``Location``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import random
import ssl
import sys
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

if importlib.util.find_spec("sniffio") is None:
    # httpcore imports the optional sniffio on every request; when it is absent each failed
    # import searches sys.path again (~1 ms of CPU per request). Record the absence once.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Hữu", "Thanh"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Hà", "Lan", "Nam", "Thảo"]


RECEIVING_DESK, COMMUNE = "000.00.01.H40", "16690"
"""A one-stop desk that exists and a commune in force: intake refuses invented ones (422)."""


PDF_HEAD = b"%PDF-1.7\n"
CERTIFIED_COPY_DOCUMENTS = ["to_khai_cap_ban_sao_trich_luc"]


async def upload_documents(client: httpx.AsyncClient, token: str, names: list[str], size_bytes: int
                           ) -> list[dict[str, Any]]:
    """One PDF of ``size_bytes`` per name, uploaded once by the client of ``token``: the references a
    client's submissions all reuse (intake takes only documents the submitting client uploaded)."""
    documents = []
    for name in names:
        data = PDF_HEAD + random.randbytes(size_bytes - len(PDF_HEAD))
        sha256 = hashlib.sha256(data).hexdigest()
        response = await client.put(f"/v1/documents/{sha256}", content=data, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/pdf"})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"uploading {name} failed: HTTP {response.status_code}: {response.text[:300]}")
        documents.append({"name": name, "media_type": "application/pdf", "size_bytes": size_bytes, "sha256": sha256})
    return documents


def certified_copy_submission(agency_id: str, documents: list[dict[str, Any]]) -> bytes:
    """A valid online submission of procedure 2.000635 (bản sao trích lục hộ tịch), as JSON, referring
    to ``documents`` (:func:`upload_documents` of :data:`CERTIFIED_COPY_DOCUMENTS`)."""
    body = {
        "procedure_code": "2.000635",
        "applicant": {"kind": "citizen",
                      "full_name": f"{random.choice(FAMILY)} {random.choice(MIDDLE)} {random.choice(GIVEN)}",
                      "identity_number": f"{random.randint(1, 96):03d}{random.randint(0, 999_999_999):09d}",
                      "phone": "0912345678"},
        "documents": documents,
        "channel": "online",
        "result_delivery": {"method": "desk"},
        "locality_code": COMMUNE,
        "receiving_agency_id": agency_id,
    }
    return json.dumps(body, ensure_ascii=False).encode()


# The documents of a desk submission, by procedure (the required ones of intake's catalogue).
DESK_DOCUMENTS = {
    "2.000635": ["to_khai_cap_ban_sao_trich_luc"],
    "2.001610": ["giay_de_nghi_dang_ky_doanh_nghiep", "giay_to_phap_ly_ca_nhan"],
}


def desk_submission(procedure_code: str, agency_id: str, documents: list[dict[str, Any]],
                    locality_code: str = COMMUNE) -> bytes:
    """A valid submission received at the desk (channel ``desk``: national status 2 at once), as JSON,
    referring to ``documents`` (:func:`upload_documents` of ``DESK_DOCUMENTS[procedure_code]``)."""
    body = {
        "procedure_code": procedure_code,
        "applicant": {"kind": "citizen",
                      "full_name": f"{random.choice(FAMILY)} {random.choice(MIDDLE)} {random.choice(GIVEN)}",
                      "identity_number": f"{random.randint(1, 96):03d}{random.randint(0, 999_999_999):09d}",
                      "phone": "0912345678"},
        "documents": documents,
        "channel": "desk",
        "result_delivery": {"method": "desk"},
        "locality_code": locality_code,
        "receiving_agency_id": agency_id,
    }
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class Submissions:
    """What one batch of submissions produced; times are ``time.perf_counter()`` seconds."""

    sent: list[float]
    answered: list[float]
    codes: list[str | None]
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def stored(self) -> list[int]:
        """Indexes of the submissions answered 201."""
        return [i for i, code in enumerate(self.codes) if code is not None]


class Clients:
    """One HTTP client (one keep-alive connection) per worker."""

    def __init__(self, base_url: str, count: int) -> None:
        tls = ssl.create_default_context()  # unused over http://, but built once instead of per client
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients = [httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits, verify=tls)
                        for _ in range(count)]

    async def __aenter__(self) -> list[httpx.AsyncClient]:
        return self.clients

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


async def submit(clients: list[httpx.AsyncClient], token: str, bodies: list[bytes],
                 on_answer: Callable[[], None] = lambda: None) -> Submissions:
    """Send every body, ``len(clients)`` at a time; when each was sent and answered, and its code."""
    n = len(bodies)
    result = Submissions(sent=[0.0] * n, answered=[0.0] * n, codes=[None] * n)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    indexes = iter(range(n))  # shared: each worker takes the next submission

    async def worker(client: httpx.AsyncClient) -> None:
        for i in indexes:
            result.sent[i] = time.perf_counter()
            try:
                response = await client.post("/v1/dossiers", content=bodies[i], headers=headers)
            except httpx.HTTPError as exc:
                error: str | None = f"{type(exc).__name__} {exc}".strip()
            else:
                error = None
                if response.status_code == 201:
                    result.codes[i] = response.headers["location"].rsplit("/", 1)[-1]
                else:
                    error = f"HTTP {response.status_code}: {response.text[:300]}"
            result.answered[i] = time.perf_counter()
            if error is not None:
                result.errors.append(f"submission {i}, sent at +{result.sent[i] - result.started:.2f} s, "
                                     f"failed after {result.answered[i] - result.sent[i]:.2f} s: {error}")
            on_answer()

    result.started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    result.finished = time.perf_counter()
    return result


def record_key(record: ConsumerRecord) -> str:
    """The record's Kafka key (a dossier code) as text."""
    return record.key.decode() if record.key else ""


def ce_type(record: ConsumerRecord) -> str:
    """The record's CloudEvents type, from its value (structured mode: the whole event is the value)."""
    try:
        return str(json.loads(record.value or b"{}").get("type", ""))
    except ValueError:
        return ""


class TopicTail:
    """Notes when each committed record of ``topic`` becomes readable, by ``key_of(record)``.

    ``key_of`` defaults to the record's key; returning None ignores the record. The first
    time a key is seen counts.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 key_of: Callable[[ConsumerRecord], Hashable | None] = record_key) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            isolation_level="read_committed", fetch_max_wait_ms=20)
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._key_of = key_of
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[Hashable, asyncio.Future[float]] = {}
        self.seen: dict[Hashable, float] = {}
        self.value_bytes = 0
        self.records = 0
        self.arrived = asyncio.Event()

    async def start(self, timeout: float = 30.0) -> None:
        """Position on the end of every partition, then tail in the background."""
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_end(*self._partitions)
        deadline = time.monotonic() + timeout
        for tp in self._partitions:
            while True:  # a topic just created may not have a leader yet
                try:
                    await self._consumer.position(tp)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        self._task = asyncio.create_task(self._tail())

    async def _tail(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    key = self._key_of(record)
                    if key is None:
                        continue
                    if key not in self.seen:
                        self.seen[key] = now
                        waiter = self._waiters.pop(key, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(now)
                    self.value_bytes += len(record.value or b"")
                    self.records += 1
            if batch:
                self.arrived.set()

    async def wait_key(self, key: Hashable, timeout: float) -> float | None:
        """When ``key`` became readable (waiting up to ``timeout``); None if it did not."""
        if key in self.seen:
            return self.seen[key]
        if self._task is not None and self._task.done():
            self._task.result()  # re-raises the tail's error
        waiter = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return self.seen.get(key)

    async def wait_for(self, codes: set[Any], timeout: float,
                       on_progress: Callable[[int], None] = lambda n: None) -> int:
        """Wait until every key was seen (or ``timeout``); how many were seen."""
        deadline = time.monotonic() + timeout
        while True:
            seen = sum(1 for code in codes if code in self.seen)
            on_progress(seen)
            if seen == len(codes) or time.monotonic() > deadline:
                return seen
            if self._task is not None and self._task.done():
                self._task.result()  # re-raises the tail's error
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=0.5)

    @property
    def mean_value_bytes(self) -> float | None:
        return self.value_bytes / self.records if self.records else None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the tail's end is not the bench's
                await self._task
        for waiter in self._waiters.values():
            waiter.cancel()
        await self._consumer.stop()
