"""``python -m bench``: the options, the phases in order, and the clean-up.

Phases: machine facts → an isolated intake (schema, topics, processes) → warm-up →
N submissions at concurrency C, each followed to Kafka → intake stopped → raw
PostgreSQL INSERTs → raw Kafka produces (one at a time per worker, then batched) →
schema dropped, topics deleted, infrastructure stopped if the bench started it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task,
                           TextColumn, TimeElapsedColumn)
from rich.text import Text

from bench import baselines, load, report
from bench.deployment import PARTITIONS, BenchIntake
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
                    "raw Kafka produces at the same concurrency. Uses KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
                    "when both are set, otherwise the native stack of `lienthong infra up` (started if needed, "
                    "stopped again at the end if the bench started it).")
    parser.add_argument("--submissions", type=positive, default=3000, metavar="N",
                        help="valid submissions to send to intake; also the number of raw INSERTs and of "
                             f"one-at-a-time produces (the batched produce sends {BATCHED_FACTOR}×N) (default 3000)")
    parser.add_argument("--concurrency", type=positive, default=64, metavar="C",
                        help="requests, connections or producers' callers in flight at once (default 64)")
    parser.add_argument("--only", choices=["intake", "baseline"],
                        help="measure only intake, or only the raw PostgreSQL and Kafka baselines")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH as JSON")
    return parser.parse_args(argv)


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
    console.print(f"intake running ({pids}), schema {deployment.schema}, topic {deployment.events_topic}")
    tail = load.TopicTail(deployment.kafka, deployment.events_topic, PARTITIONS)
    await tail.start()
    try:
        async with load.Clients(deployment.base_url, c) as clients:
            token = await deployment.token(clients[0])
            agency_id = load.random_agency_id()
            with progress(console) as bar:
                task = bar.add_task("warm-up: submissions", total=c)
                warm = await load.submit(clients, token, [load.certified_copy_submission(agency_id) for _ in range(c)],
                                         lambda: bar.advance(task))
                if warm.errors:
                    raise RuntimeError(f"warm-up submissions failed: {warm.errors[0]}")
                task = bar.add_task("warm-up: events on Kafka", total=c)
                warm_codes = {code for code in warm.codes if code}
                if await tail.wait_for(warm_codes, 60, lambda k: bar.update(task, completed=k)) < len(warm_codes):
                    deployment.check_alive()
                    raise RuntimeError("the warm-up events did not all reach Kafka within 60 s")

            bodies = [load.certified_copy_submission(agency_id) for _ in range(n)]
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


def intake_figures(run: load.Submissions, seen: dict[str, float]) -> list[Figure]:
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
        pg = await baselines.postgres_inserts(deployment.database_url, deployment.schema, n, c, event_bytes,
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
    parameters = {"submissions": args.submissions, "concurrency": args.concurrency, "only": args.only}
    deployment = BenchIntake(infrastructure.kafka, infrastructure.database_url)
    figures: list[Figure] = []
    intake: Figure | None = None
    extra: dict[str, Any] = {}
    keep_logs = True
    try:
        await deployment.create_resources()
        event_bytes = DEFAULT_EVENT_BYTES
        if args.only != "baseline":
            intake_figures, extra = await measure_intake(deployment, args, console)
            figures += intake_figures
            intake = intake_figures[0]
            event_bytes = extra["intake_event_bytes"] or DEFAULT_EVENT_BYTES
            deployment.stop()  # its processes must not compete with the baselines
        if args.only != "intake":
            figures += await measure_baselines(deployment, args, console, event_bytes)
        keep_logs = bool(extra.get("failed_examples"))
    except asyncio.CancelledError:
        keep_logs = False
        raise
    finally:
        with console.status("Stopping intake, dropping the schema, deleting the topics…"):
            removed = await deployment.clean_up()
        console.print("; ".join(removed))
        if not keep_logs:
            deployment.remove_work_dir()
        else:
            console.print(f"[yellow]logs of intake's processes kept in {deployment.work_dir}[/yellow]")
            for name, process in deployment.processes.items():
                console.print(f"[dim]{name}: {process.log_path}[/dim]")

    facts["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(report.machine_table(facts))
    report.print_results(console, figures, intake, parameters)
    if intake is not None:
        console.print(f"intake events on Kafka average {extra['intake_event_bytes']} B; the baselines "
                      f"use records and rows of that size. 'intake ÷ this' compares stored submissions "
                      f"per second with the line's rate.")
    if args.json:
        report.write_json(args.json, facts, parameters, figures, intake, extra)
        console.print(f"figures written to {args.json}")


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
