"""``python -m bench``: the options, the phases in order, and the clean-up.

Phases: machine facts → an isolated intake (schema, topics, processes) → warm-up →
N submissions at concurrency C, each followed to Kafka → intake stopped → raw
PostgreSQL INSERTs → raw Kafka produces (one at a time per worker, then batched) →
document uploads to an intake of their own over HTTP beside the store's own ``put`` and
raw ``bytea`` INSERTs of the same bytes (``bench/uploads.py``) → an isolated intake +
routing (schemas, topics, processes) → warm-up → desk dossiers followed until their first
step is open → step hand-offs → processes stopped → raw Kafka round trips (plain and
transactional) → schemas dropped, topics deleted, infrastructure stopped if the bench
started it. ``--only`` picks one of the four.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bench import baselines, load, report
from bench import routing as routing_bench
from bench import uploads as upload_bench
from bench.deployment import PARTITIONS, BenchIntake, BenchSystem
from bench.figures import Figure
from bench.infrastructure import Infrastructure, acquire, machine_facts

DEFAULT_EVENT_BYTES = 1024  # when intake is not measured (``--only baseline``)
BATCHED_FACTOR = 10  # the batched produce sends this many times N, to last long enough to time
KAFKA_WAIT_SECONDS = 300.0


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure intake (HTTP → stored → on Kafka) and, in the same run, raw PostgreSQL INSERTs and "
                    "raw Kafka produces at the same concurrency; then routing (desk dossiers until their first "
                    "step is open, step hand-off latency) beside raw Kafka round trips. Before routing: document "
                    "uploads (PUT /v1/documents to intake, MB/s and files/s per file size) beside the same bytes "
                    "written by the document store's own put and as raw bytea INSERTs to the same PostgreSQL. "
                    "Uses KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
                    "when both are set, otherwise the native stack of `lienthong infra up` (started if needed, "
                    "stopped again at the end if the bench started it).")
    parser.add_argument("--submissions", type=positive, default=3000, metavar="N",
                        help="valid submissions to send to intake; also the number of raw INSERTs and of "
                             f"one-at-a-time produces (the batched produce sends {BATCHED_FACTOR}×N) (default 3000)")
    parser.add_argument("--concurrency", type=positive, default=64, metavar="C",
                        help="requests, connections or producers' callers in flight at once (default 64)")
    parser.add_argument("--dossiers", type=positive, default=500, metavar="N",
                        help="routing: desk dossiers of 2.000635 followed until their first step is open "
                             "(default 500)")
    parser.add_argument("--handoffs", type=positive, default=200, metavar="M",
                        help="routing: dossiers of 2.001610 whose first step is completed over REST and "
                             "followed to the next agency's topic; also the records of each Kafka round-trip "
                             "baseline (default 200)")
    parser.add_argument("--handoff-concurrency", type=positive, default=1, metavar="K",
                        help="routing: hand-offs (and baseline round trips) in flight at once (default 1)")
    upload_bench.add_arguments(parser, positive)
    parser.add_argument("--only", choices=["intake", "baseline", "routing", "uploads"],
                        help="measure only intake, only the raw PostgreSQL and Kafka baselines, only routing "
                             "(with its Kafka round-trip baselines), or only uploads (with their store.put and "
                             "raw INSERT baselines)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args(argv)
    return args


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


def progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), console=console)


def cpu_snapshot(deployment: BenchIntake) -> dict[str, float]:
    """CPU seconds used so far by intake's processes and by this load generator."""
    return {**{name: p.cpu_seconds() for name, p in deployment.processes.items()},
            "load generator": time.process_time()}


async def measure_intake(deployment: BenchIntake, args: argparse.Namespace, console: Console
                         ) -> tuple[list[Figure], dict[str, Any]]:
    n, c = args.submissions, args.concurrency
    with console.status(f"Starting intake and intake-relay on port {deployment.port}…"):
        await deployment.start()
    pids = ", ".join(f"{p.name} pid {p.pid}" for p in deployment.processes.values())
    console.print(f"intake running ({pids}), schema {deployment.intake_schema}, topic {deployment.events_topic}")
    tail = load.TopicTail(deployment.kafka, deployment.events_topic, PARTITIONS)
    await tail.start()
    try:
        async with load.Clients(deployment.base_url, c) as clients:
            token = deployment.portal_token()
            agency_id = load.RECEIVING_DESK
            documents = await load.upload_documents(clients[0], token, load.CERTIFIED_COPY_DOCUMENTS, 120_000)
            with progress(console) as bar:
                task = bar.add_task("warm-up: submissions", total=c)
                warm_bodies = [load.certified_copy_submission(agency_id, documents) for _ in range(c)]
                warm = await load.submit(clients, token, warm_bodies, lambda: bar.advance(task))
                if warm.errors:
                    raise RuntimeError(f"warm-up submissions failed: {warm.errors[0]}")
                task = bar.add_task("warm-up: events on Kafka", total=c)
                warm_codes = {code for code in warm.codes if code}
                if await tail.wait_for(warm_codes, 60, lambda k: bar.update(task, completed=k)) < len(warm_codes):
                    deployment.check_alive()
                    raise RuntimeError("the warm-up events did not all reach Kafka within 60 s")

            bodies = [load.certified_copy_submission(agency_id, documents) for _ in range(n)]
            cpu_before = cpu_snapshot(deployment)
            with progress(console) as bar:
                task = bar.add_task("intake: submissions → 201", total=n)
                run = await load.submit(clients, token, bodies, lambda: bar.advance(task))
                stored = run.stored
                codes = {code for code in run.codes if code is not None}
                task = bar.add_task("intake: events readable on Kafka", total=len(codes))
                await tail.wait_for(codes, KAFKA_WAIT_SECONDS, lambda k: bar.update(task, completed=k))
            cpu_used = {name: seconds - cpu_before[name] for name, seconds in cpu_snapshot(deployment).items()}
            wall = time.perf_counter() - run.started
        deployment.check_alive()
    finally:
        await tail.stop()

    for error in run.errors[:3]:
        console.print(f"[red]failed submission:[/red] {error}")
    cpu = {name: {"ms_per_submission": round(1000 * seconds / max(1, len(stored)), 2),
                  "share_of_one_core": round(seconds / wall, 2)} for name, seconds in cpu_used.items()}
    console.print(f"CPU used from the first submission to the last event on Kafka ({wall:.1f} s): "
                  + ", ".join(f"{name} {use['ms_per_submission']} ms per submission "
                              f"({use['share_of_one_core']:.0%} of a core)" for name, use in cpu.items()))
    extra = {"intake_event_bytes": round(tail.mean_value_bytes or 0), "cpu": cpu, "failed_examples": run.errors[:3]}
    return intake_figures(run, tail.seen), extra


def intake_figures(run: load.Submissions, seen: Mapping[Hashable, float]) -> list[Figure]:
    """Stored (201) per second and latency; readable on Kafka per second and latency."""
    stored = {i: code for i, code in enumerate(run.codes) if code is not None}
    on_kafka = {i: seen[code] for i, code in stored.items() if code in seen}
    http = Figure("intake → 201 (stored)", len(stored), run.finished - run.started,
                  [run.answered[i] - run.sent[i] for i in stored], failures=len(run.errors),
                  note="sent → HTTP 201: the event is committed in PostgreSQL")
    last_on_kafka = max(on_kafka.values(), default=run.started)
    kafka = Figure("intake → readable on Kafka", len(on_kafka), last_on_kafka - run.started,
                   [at - run.sent[i] for i, at in on_kafka.items()], failures=len(stored) - len(on_kafka),
                   note="sent → record readable by a read_committed consumer (rate: first send → last record)")
    return [http, kafka]


async def measure_baselines(deployment: BenchIntake, args: argparse.Namespace, console: Console,
                            event_bytes: int) -> list[Figure]:
    n, c = args.submissions, args.concurrency
    with progress(console) as bar:
        task = bar.add_task("baseline: PostgreSQL INSERT+commit", total=n)
        pg = await baselines.postgres_inserts(deployment.database_url, deployment.intake_schema, n, c, event_bytes,
                                              lambda: bar.advance(task))
        task = bar.add_task("baseline: Kafka send_and_wait", total=n)
        one = await baselines.kafka_send_and_wait(deployment.kafka, deployment.baseline_topic, n, c, event_bytes,
                                                  lambda: bar.advance(task))
        task = bar.add_task("baseline: Kafka batched", total=n * BATCHED_FACTOR)
        batched = await baselines.kafka_batched(deployment.kafka, deployment.baseline_topic, n * BATCHED_FACTOR,
                                                event_bytes, lambda k: bar.advance(task, k))
    return [pg, one, batched]


async def run(args: argparse.Namespace, infrastructure: Infrastructure, console: Console) -> None:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    facts = await machine_facts(infrastructure)
    parameters = {"submissions": args.submissions, "concurrency": args.concurrency, "dossiers": args.dossiers,
                  "handoffs": args.handoffs, "handoff_concurrency": args.handoff_concurrency,
                  "upload_sizes": args.upload_sizes, "upload_mib": args.upload_mib,
                  "upload_concurrency": args.upload_concurrency, "only": args.only}
    phases = {"intake", "baseline", "routing", "uploads"} if args.only is None else {args.only}
    deployment = BenchIntake(infrastructure.kafka, infrastructure.database_url) \
        if phases & {"intake", "baseline"} else None
    system = BenchSystem(infrastructure.kafka, infrastructure.database_url) if "routing" in phases else None
    uploading = upload_bench.BenchUploads(infrastructure.kafka, infrastructure.database_url,
                                          workers=args.upload_concurrency) if "uploads" in phases else None
    figures: list[Figure] = []
    intake: Figure | None = None
    extra: dict[str, Any] = {}
    routed: routing_bench.RoutingRun | None = None
    uploaded: upload_bench.UploadRun | None = None
    keep_logs = {"intake": True, "routing": True, "uploads": True}
    cleaned: set[str] = set()

    async def clean_up(name: str, deployed: BenchIntake) -> None:
        cleaned.add(name)
        with console.status(f"Stopping {name}'s processes, dropping schemas, deleting topics…"):
            removed = await deployed.clean_up()
        console.print("; ".join(removed))
        if not keep_logs[name]:
            deployed.remove_work_dir()
        else:
            console.print(f"[yellow]logs of the {name} phase's processes kept in {deployed.work_dir}[/yellow]")
            for process_name, process in deployed.processes.items():
                console.print(f"[dim]{process_name}: {process.log_path}[/dim]")

    try:
        if deployment is not None:
            await deployment.create_resources()
            event_bytes = DEFAULT_EVENT_BYTES
            if "intake" in phases:
                intake_figures, extra = await measure_intake(deployment, args, console)
                figures += intake_figures
                intake = intake_figures[0]
                event_bytes = extra["intake_event_bytes"] or DEFAULT_EVENT_BYTES
                deployment.stop()  # its processes must not compete with the baselines
            if "baseline" in phases:
                figures += await measure_baselines(deployment, args, console, event_bytes)
            keep_logs["intake"] = bool(extra.get("failed_examples"))
            await clean_up("intake", deployment)
        if uploading is not None:
            await uploading.create_resources()
            uploaded = await upload_bench.measure_uploads(uploading, args, console, lambda: progress(console))
            keep_logs["uploads"] = bool(uploaded.errors)
            await clean_up("uploads", uploading)
        if system is not None:
            await system.create_resources()
            routed = await routing_bench.measure_routing(
                system, args.dossiers, args.handoffs, args.concurrency, args.handoff_concurrency, console,
                lambda: progress(console))
            system.stop()  # the round trips run on an idle machine, like the intake baselines
            routed.figures += await routing_bench.measure_round_trips(
                system, args.handoffs, args.handoff_concurrency, routed.extra["step_opened_bytes"] or 1024,
                lambda: progress(console))
            keep_logs["routing"] = bool(routed.extra.get("failed_examples")) or any(
                f.failures for f in routed.figures)
    except asyncio.CancelledError:
        keep_logs = {"intake": False, "routing": False, "uploads": False}
        raise
    finally:
        for name, deployed in (("intake", deployment), ("uploads", uploading), ("routing", system)):
            if deployed is not None and name not in cleaned:
                await clean_up(name, deployed)

    facts["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(report.machine_table(facts))
    if figures:
        report.print_results(console, figures, intake, parameters)
    if intake is not None:
        console.print(f"intake events on Kafka average {extra['intake_event_bytes']} B; the baselines "
                      f"use records and rows of that size. 'intake ÷ this' compares stored submissions "
                      f"per second with the line's rate.")
    hand_off: Figure | None = None
    if routed is not None:
        hand_off = next((f for f in routed.figures if f.name.startswith("hand-off: 200")), None)
        print_routing(console, routed, hand_off, parameters)
    if uploaded is not None:
        upload_bench.print_uploads(console, uploaded)
        extra["uploads"] = uploaded.as_dict()
    if args.json:
        report.write_json(args.json, facts, parameters, figures, intake, extra,
                          routed.figures if routed else None, hand_off, routed.extra if routed else None)
        console.print(f"figures written to {args.json}")


def print_routing(console: Console, routed: routing_bench.RoutingRun, hand_off: Figure | None,
                  parameters: dict[str, Any]) -> None:
    console.print(report.routing_table(routed.figures, hand_off, parameters))
    for line in report.notes(routed.figures):
        console.print(f"  [dim]{line}[/dim]")
    extra = routed.extra
    model = extra.get("read_model", {})
    console.print(f"read model: {model.get('open_in_inbox')} of {model.get('dossiers')} dossiers listed with "
                  f"issue_copy open by GET /v1/inbox?state=open as {routing_bench.COPY_AGENCY} "
                  f"(paged in {model.get('paging_seconds')} s after the last StepOpened)")
    cpu = extra.get("cpu", {})
    if cpu:
        console.print(f"CPU from the first desk submission to the last StepOpened on Kafka "
                      f"({extra['cpu_seconds_window']:.1f} s): "
                      + ", ".join(f"{name} {use['ms_per_dossier']} ms per dossier "
                                  f"({(use['share_of_one_core'] or 0):.0%} of a core)" for name, use in cpu.items()))
    if extra.get("hand_off_cpu_ms"):
        console.print("CPU per hand-off: " + ", ".join(f"{name} {ms} ms"
                                                        for name, ms in extra["hand_off_cpu_ms"].items()))
    console.print(f"StepOpened records average {extra.get('step_opened_bytes')} B; the round-trip baselines use "
                  f"records of that size. 'hand-off ÷ this' divides the p50 and p99 of 'hand-off: 200 → next step' "
                  f"by the line's.")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console = Console(width=100)
    started = time.monotonic()
    with console.status("Kafka and PostgreSQL…") as status:
        infrastructure = acquire(report=lambda step: status.update(step))
    exit_code = 0
    try:
        asyncio.run(run(args, infrastructure, console))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[yellow]interrupted[/yellow]")
        exit_code = 130
    finally:
        stopped = infrastructure.release()
        if stopped:
            console.print(f"stopped what the bench started: {', '.join(stopped)}")
    console.print(f"bench took {time.monotonic() - started:.0f} s")
    sys.exit(exit_code)
