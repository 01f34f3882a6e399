"""Routing under load: dossiers received at the desk until their first step is open, and the
hand-off from one agency's step to the next, beside raw Kafka round trips.

Everything runs against a :class:`bench.deployment.BenchSystem` (intake and routing as real
processes, the system clock). Two ``read_committed`` consumers without a group tail what
routing publishes, positioned at the end before anything is sent:

* the routing topic: every ``StepOpened`` and ``StepClaimed`` record, noted by
  ``(type, dossier code, step key)`` — the instant it became readable;
* the inbox topic of the stream-integrated tax agency (``<prefix>000.81.00.H40.inbox``):
  every ``tax_code`` step opened for it, noted by dossier code.

Phases (:func:`measure_routing`): warm-up; N certified-copy dossiers (2.000635) at the desk,
C at a time, each followed until its ``issue_copy`` step is open on the routing topic; the
read model checked through the REST inbox; M business-registration dossiers (2.001610)
prepared (submitted, ``review_application`` opened and claimed); then, K at a time, each
``review_application`` completed over REST and the ``tax_code`` StepOpened awaited on the
tax agency's topic; the processes stopped; then the raw Kafka round trips, M records each,
K at a time, plain and transactional.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from aiokafka.structs import ConsumerRecord

from bench import baselines, load
from bench.deployment import PARTITIONS, BenchSystem
from bench.figures import Figure

COPY_PROCEDURE, COPY_STEP, COPY_AGENCY = "2.000635", "issue_copy", "400.10.16690.H40"
CHAIN_PROCEDURE = "2.001610"
FIRST_STEP, NEXT_STEP = "review_application", "tax_code"
REST_AGENCY, STREAM_AGENCY = "000.08.21.H40", "000.81.00.H40"
STEP_OPENED = "vn.lienthong.routing.step.opened.v1"
STEP_CLAIMED = "vn.lienthong.routing.step.claimed.v1"
WAIT_SECONDS = 300.0
INBOX_PAGE = 500  # the REST inbox's largest page


def routing_key(record: ConsumerRecord) -> tuple[str, str, str] | None:
    """``("opened" | "claimed", dossier code, step key)`` of a routing-topic record, else None."""
    kind = {STEP_OPENED: "opened", STEP_CLAIMED: "claimed"}.get(load.ce_type(record))
    if kind is None:
        return None
    return kind, load.record_key(record), json.loads(record.value)["data"]["step_key"]


def next_step_key(record: ConsumerRecord) -> str | None:
    """The dossier code of a ``tax_code`` StepOpened on the tax agency's inbox topic."""
    if load.ce_type(record) != STEP_OPENED or json.loads(record.value)["data"]["step_key"] != NEXT_STEP:
        return None
    return load.record_key(record)


@dataclass
class HandOffs:
    """What the hand-off phase measured; times are ``time.perf_counter()`` seconds."""

    answered: dict[str, float] = field(default_factory=dict)  # code → 200 received
    sent: dict[str, float] = field(default_factory=dict)
    readable: dict[str, float] = field(default_factory=dict)  # code → next step readable
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


@dataclass
class RoutingRun:
    figures: list[Figure]
    extra: dict[str, Any]


def cpu_snapshot(system: BenchSystem) -> dict[str, float]:
    return {**{name: p.cpu_seconds() for name, p in system.processes.items()},
            "load generator": time.process_time()}


def _advanced(bar: Any, task: Any, base: int, done: int) -> None:
    """Progress past ``base``: ``done`` more of the task's items are finished."""
    bar.update(task, completed=base + done)


async def submit_and_route(clients: list[httpx.AsyncClient], token: str, procedure: str, agency_id: str,
                           documents: list[dict[str, Any]], count: int, tail: load.TopicTail, step_key: str,
                           timeout: float, on_answer: Callable[[], None], on_routed: Callable[[int], None]
                           ) -> tuple[load.Submissions, set[tuple[str, str, str]]]:
    """Submit ``count`` desk dossiers referring to ``documents`` (uploaded once by the desk), then wait
    until each one's ``step_key`` is open on Kafka."""
    bodies = [load.desk_submission(procedure, agency_id, documents) for _ in range(count)]
    run = await load.submit(clients, token, bodies, on_answer)
    keys = {("opened", code, step_key) for code in run.codes if code}
    await tail.wait_for(keys, timeout, on_routed)
    return run, keys


async def open_in_read_model(client: httpx.AsyncClient, token: str, codes: set[str]) -> tuple[int, float]:
    """How many of ``codes`` the REST inbox of 400.10.16690.H40 lists with ``issue_copy`` open,
    paging through ``GET /v1/inbox?state=open``; and how long the paging took."""
    found: set[str] = set()
    started = time.perf_counter()
    offset = 0
    while True:
        response = await client.get("/v1/inbox", params={"state": "open", "limit": INBOX_PAGE, "offset": offset},
                                    headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        page = response.json()
        found.update(item["dossier_code"] for item in page if item["step_key"] == COPY_STEP)
        if len(page) < INBOX_PAGE:
            break
        offset += INBOX_PAGE
    return len(found & codes), time.perf_counter() - started


async def claim_all(clients: list[httpx.AsyncClient], token: str, codes: list[str]) -> list[str]:
    """Claim ``review_application`` of every dossier (C at a time); the errors."""
    errors: list[str] = []
    pending = iter(codes)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        for code in pending:
            response = await client.post(f"/v1/inbox/{code}/steps/{FIRST_STEP}/claim", headers=headers)
            if response.status_code != 200:
                errors.append(f"claim {code}: HTTP {response.status_code} {response.text[:200]}")

    await asyncio.gather(*(worker(client) for client in clients))
    return errors


async def hand_off(clients: list[httpx.AsyncClient], token: str, codes: list[str], inbox: load.TopicTail,
                   on_done: Callable[[], None]) -> HandOffs:
    """Each of ``len(clients)`` workers completes ``review_application`` of its next dossier over
    REST and waits until that dossier's ``tax_code`` StepOpened is readable on the tax agency's
    topic before it takes the next one."""
    result = HandOffs()
    pending = iter(codes)
    headers = {"Authorization": f"Bearer {token}"}
    # The result file is uploaded once by the agency (before the clock starts) and every completion
    # refers to it: routing takes only results the acting agency uploaded.
    results = await load.upload_documents(clients[0], token, ["ket_qua"], 64_000)

    async def worker(client: httpx.AsyncClient) -> None:
        for code in pending:
            body = {"documents": results}
            result.sent[code] = time.perf_counter()
            try:
                response = await client.post(f"/v1/inbox/{code}/steps/{FIRST_STEP}/complete", json=body,
                                             headers=headers)
            except httpx.HTTPError as exc:
                result.errors.append(f"complete {code}: {type(exc).__name__} {exc}")
                on_done()
                continue
            answered = time.perf_counter()
            if response.status_code != 200:
                result.errors.append(f"complete {code}: HTTP {response.status_code} {response.text[:300]}")
                on_done()
                continue
            result.answered[code] = answered
            readable = await inbox.wait_key(code, 60)
            if readable is None:
                result.errors.append(f"{code}: {NEXT_STEP} not readable on the agency topic within 60 s")
            else:
                result.readable[code] = readable
            on_done()

    result.started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in clients))
    result.finished = time.perf_counter()
    return result


def routed_figures(run: load.Submissions, seen: dict[Hashable, float]) -> list[Figure]:
    stored = {i: code for i, code in enumerate(run.codes) if code is not None}
    routed = {i: seen[("opened", code, COPY_STEP)] for i, code in stored.items()
              if ("opened", code, COPY_STEP) in seen}
    desk = Figure("desk → 201", len(stored), run.finished - run.started,
                  [run.answered[i] - run.sent[i] for i in stored], failures=len(run.errors),
                  note="sent → HTTP 201 from intake: Submitted (status 2, desk) committed in intake's store")
    last = max(routed.values(), default=run.started)
    first_step = Figure("routed: 1st step on Kafka", len(routed), last - run.started,
                        [at - run.sent[i] for i, at in routed.items()], failures=len(stored) - len(routed),
                        note="sent → routing's StepOpened (issue_copy) readable on the routing topic; rate: "
                             "dossiers ÷ (first send → last StepOpened) = routed dossiers per second")
    return [desk, first_step]


def hand_off_figures(result: HandOffs, workers: int) -> list[Figure]:
    done = list(result.answered)
    complete = Figure("REST complete → 200", len(done), result.finished - result.started,
                      [result.answered[c] - result.sent[c] for c in done], failures=len(result.sent) - len(done),
                      note="POST /v1/inbox/{code}/steps/review_application/complete as 000.08.21.H40 → 200 "
                           "(StepCompleted and tax_code StepOpened committed in routing's store)")
    handed = [c for c in done if c in result.readable]
    hand = Figure("hand-off: 200 → next step", len(handed), result.finished - result.started,
                  [result.readable[c] - result.answered[c] for c in handed], failures=len(done) - len(handed),
                  note=f"complete's 200 received → tax_code StepOpened readable on the stream agency's inbox "
                       f"topic (routing-relay's transaction committed); {workers} hand-off(s) in flight")
    whole = Figure("hand-off: sent → next step", len(handed), result.finished - result.started,
                   [result.readable[c] - result.sent[c] for c in handed], failures=len(done) - len(handed),
                   note="complete sent → tax_code StepOpened readable (the REST call and the relay together)")
    return [complete, hand, whole]


async def measure_routing(system: BenchSystem, dossiers: int, handoffs: int, concurrency: int, workers: int,
                          console: Any, progress: Callable[[], Any]) -> RoutingRun:
    with console.status(f"Starting intake and routing (ports {system.port}, {system.routing_port})…"):
        await system.start()
    pids = ", ".join(f"{p.name} pid {p.pid}" for p in system.processes.values())
    console.print(f"intake and routing running ({pids}); schemas {system.intake_schema}, {system.routing_schema}; "
                  f"topics bench.{system.suffix}.*")
    routing_tail = load.TopicTail(system.kafka, system.routing_topic, PARTITIONS, key_of=routing_key)
    inbox_topic = system.agency_inbox_topic(STREAM_AGENCY)
    inbox_tail = load.TopicTail(system.kafka, inbox_topic, 1, key_of=next_step_key)
    await routing_tail.start()
    await inbox_tail.start()
    extra: dict[str, Any] = {"agency_inbox_topic": inbox_topic}
    try:
        async with load.Clients(system.base_url, concurrency) as intake_clients, \
                load.Clients(system.routing_url, concurrency) as routing_clients:
            desk = system.desk_token()
            copy_agency = system.agency_token(COPY_AGENCY)
            rest_agency = system.agency_token(REST_AGENCY)
            agency = system.receiving_agency_id
            # The desk uploads each procedure's files once; every submission refers to them.
            documents = {procedure: await load.upload_documents(intake_clients[0], desk, load.DESK_DOCUMENTS[procedure],
                                                                90_000)
                         for procedure in (COPY_PROCEDURE, CHAIN_PROCEDURE)}

            # Warm-up: every connection, routing's consumer and relay, one hand-off chain each.
            warm_chain = min(concurrency, 8)
            with progress() as bar:
                task = bar.add_task("warm-up: desk submissions routed", total=concurrency + warm_chain)
                for base, (procedure, step, count) in ((0, (COPY_PROCEDURE, COPY_STEP, concurrency)),
                                                       (concurrency, (CHAIN_PROCEDURE, FIRST_STEP, warm_chain))):
                    warm, keys = await submit_and_route(
                        intake_clients, desk, procedure, agency, documents[procedure], count, routing_tail, step, 120,
                        lambda: None, partial(_advanced, bar, task, base))
                    if warm.errors or not all(k in routing_tail.seen for k in keys):
                        system.check_alive()
                        raise RuntimeError(f"warm-up failed: {(warm.errors or ['not routed within 120 s'])[0]}")
                warm_codes = [key[1] for key in keys]
                task = bar.add_task("warm-up: hand-offs", total=len(warm_codes))
                errors = await claim_all(routing_clients, rest_agency, warm_codes)
                warm_hand = await hand_off(routing_clients[:workers], rest_agency, warm_codes, inbox_tail,
                                           lambda: bar.advance(task))
                if errors or warm_hand.errors:
                    system.check_alive()
                    raise RuntimeError(f"warm-up hand-offs failed: {(errors + warm_hand.errors)[0]}")

            # 1. Routed dossiers per second.
            cpu_before = cpu_snapshot(system)
            with progress() as bar:
                sent = bar.add_task("routing: desk submissions → 201", total=dossiers)
                routed = bar.add_task("routing: first step open on Kafka", total=dossiers)
                run, keys = await submit_and_route(
                    intake_clients, desk, COPY_PROCEDURE, agency, documents[COPY_PROCEDURE], dossiers, routing_tail,
                    COPY_STEP, WAIT_SECONDS,
                    lambda: bar.advance(sent), lambda k: bar.update(routed, completed=k))
            last = max((routing_tail.seen[k] for k in keys if k in routing_tail.seen), default=run.started)
            cpu_used = {name: seconds - cpu_before[name] for name, seconds in cpu_snapshot(system).items()}
            wall = last - run.started
            codes = {code for code in run.codes if code}
            with console.status("Reading the REST inbox of 400.10.16690.H40…"):
                listed, paging = await open_in_read_model(routing_clients[0], copy_agency, codes)
            extra["read_model"] = {"dossiers": len(codes), "open_in_inbox": listed, "paging_seconds": round(paging, 2)}
            extra["cpu"] = {name: {"ms_per_dossier": round(1000 * seconds / max(1, len(codes)), 2),
                                   "share_of_one_core": round(seconds / wall, 2) if wall > 0 else None}
                            for name, seconds in cpu_used.items()}
            extra["cpu_seconds_window"] = round(wall, 2)
            extra["failed_examples"] = run.errors[:3]
            figures = routed_figures(run, routing_tail.seen)

            # 2. Step hand-off latency.
            with progress() as bar:
                task = bar.add_task("hand-off: chain dossiers routed", total=handoffs)
                chain, chain_keys = await submit_and_route(
                    intake_clients, desk, CHAIN_PROCEDURE, agency, documents[CHAIN_PROCEDURE], handoffs, routing_tail,
                    FIRST_STEP, WAIT_SECONDS,
                    lambda: None, lambda k: bar.update(task, completed=k))
                chain_codes = [key[1] for key in chain_keys if key in routing_tail.seen]
                task = bar.add_task("hand-off: review_application claimed", total=len(chain_codes))
                errors = await claim_all(routing_clients, rest_agency, chain_codes)
                claimed = {("claimed", code, FIRST_STEP) for code in chain_codes}
                await routing_tail.wait_for(claimed, WAIT_SECONDS, lambda k: bar.update(task, completed=k))
                task = bar.add_task(f"hand-off: complete → {NEXT_STEP} on the agency topic", total=len(chain_codes))
                cpu_before = cpu_snapshot(system)
                result = await hand_off(routing_clients[:workers], rest_agency, chain_codes, inbox_tail,
                                        lambda: bar.advance(task))
                cpu_after = cpu_snapshot(system)
            system.check_alive()
            result.errors[:0] = chain.errors + errors
            extra["failed_examples"] += result.errors[:3]
            extra["hand_off_cpu_ms"] = {name: round(1000 * (cpu_after[name] - cpu_before[name])
                                                    / max(1, len(result.answered)), 2) for name in cpu_after}
            figures += hand_off_figures(result, workers)
    finally:
        await routing_tail.stop()
        await inbox_tail.stop()
    extra["step_opened_bytes"] = round(inbox_tail.mean_value_bytes or 0)
    for error in extra["failed_examples"]:
        console.print(f"[red]failed:[/red] {error}")
    return RoutingRun(figures, extra)


async def measure_round_trips(system: BenchSystem, count: int, workers: int, payload_bytes: int,
                              progress: Callable[[], Any]) -> list[Figure]:
    """The raw Kafka round trips, with intake and routing stopped."""
    tail = load.TopicTail(system.kafka, system.baseline_topic, PARTITIONS)
    await tail.start()
    figures = []
    try:
        with progress() as bar:
            for transactional, label in ((False, "baseline: Kafka produce → read"),
                                         (True, "baseline: Kafka transaction → read")):
                task = bar.add_task(label, total=count)
                figures.append(await baselines.kafka_round_trips(
                    system.kafka, tail, system.baseline_topic, count, workers, payload_bytes,
                    transactional=transactional, run_id=system.suffix, on_done=partial(bar.advance, task)))
    finally:
        await tail.stop()
    return figures
