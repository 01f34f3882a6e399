"""Deployments of the bench's own: schemas, topics, credentials, ports and processes.

Nothing they use is shared with a running system or with the tests: the schemas are
``intake_bench_<hex>`` (and ``routing_bench_<hex>``), the topics ``bench.<hex>.…``, the
client list a temporary file with random secrets, the signing key random, the ports free.
The services run as real processes (``python -m services.cli run …``), stopped by PID.

* :class:`BenchIntake`: ``intake`` and ``intake-relay``;
* :class:`BenchSystem`: intake (``intake``, ``intake-relay``) and routing (``routing``,
  ``routing-relay``, ``routing-consumer``) sharing topics, one client list (a desk, and one
  client per agency of routing's geography) and the system clock.

``clean_up`` stops the processes, drops the schemas, deletes the topics (and the routing
consumer's group).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.admin import DeleteGroupsRequest

from bench.load import RECEIVING_DESK
from services.clock import FileClock
from services.sandbox import Sandbox, client_entry
from shared_events.scalars import VIETNAM

PARTITIONS = 3  # as lienthong.intake.dossier-events in infra/topics.yaml
PROCESS_NAMES = ("intake", "intake-relay")
SYSTEM_PROCESS_NAMES = ("intake", "intake-relay", "routing", "routing-relay", "routing-consumer")


@dataclass
class BenchIntake(Sandbox):
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lienthong-bench-")))
    label: str = "bench"

    def __post_init__(self) -> None:
        self.client_id = f"bench-portal-{self.suffix}"
        self.client_secret = secrets.token_urlsafe(32)

    @property
    def baseline_topic(self) -> str:
        return self.topic("baseline")

    @property
    def topic_partitions(self) -> dict[str, int]:
        """Every topic the bench creates (and deletes), with its number of partitions."""
        return {self.events_topic: PARTITIONS, self.baseline_topic: PARTITIONS}

    @property
    def topics(self) -> list[str]:
        return list(self.topic_partitions)

    @property
    def schemas(self) -> list[str]:
        return [self.intake_schema, self.documents_schema]

    @property
    def consumer_groups(self) -> list[str]:
        return []

    @property
    def process_names(self) -> tuple[str, ...]:
        return PROCESS_NAMES

    # --- resources ------------------------------------------------------------------

    async def create_resources(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            for schema in self.schemas:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)
                                       for name, partitions in self.topic_partitions.items()])
        finally:
            await admin.close()

    async def clean_up(self) -> list[str]:
        """Stop the processes, drop the schemas, delete the topics and groups; what was done or failed."""
        self.stop()
        done: list[str] = []
        try:
            conn = await asyncpg.connect(self.database_url)
            try:
                for schema in self.schemas:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    done.append(f"dropped schema {schema}")
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            done.append(f"could not drop schemas {', '.join(self.schemas)}: {exc}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            mine = [name for name in self.topics if name in existing]
            if mine:
                await admin.delete_topics(mine)
                done.append(f"deleted {len(mine)} topics bench.{self.suffix}.*" if len(mine) > 3
                            else "; ".join(f"deleted topic {name}" for name in mine))
            for group in self.consumer_groups:
                done.append(await _delete_group(admin, group))
        except Exception as exc:
            done.append(f"could not delete topics {', '.join(self.topics)}: {exc}")
        finally:
            await admin.close()
        return done

    def remove_work_dir(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # --- processes ------------------------------------------------------------------

    def clients(self) -> list[dict[str, object]]:
        return [client_entry(self.client_id, "portal", None, ["dossier:submit", "dossier:read"],
                             self.client_secret)]

    async def start(self, names: Iterable[str] | None = None, timeout: float = 90.0) -> None:
        """Start the bench's processes; return when every HTTP one answers ``/readyz``."""
        await super().start(names or self.process_names, timeout)

    def portal_token(self) -> str:
        return self.client_token(self.client_id, self.client_secret)


async def _delete_group(admin: AIOKafkaAdminClient, group: str) -> str:
    """Delete an (empty) consumer group; aiokafka's admin client has no call for it."""
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))
        errors = [code for _, code in response.results if code]
    except Exception as exc:
        return f"could not delete consumer group {group}: {exc}"
    # 69 GROUP_ID_NOT_FOUND: the consumer never joined
    if errors and errors != [69]:
        return f"could not delete consumer group {group}: error code {errors[0]}"
    return f"deleted consumer group {group}"


def working_instant() -> datetime:
    """09:00 Vietnam time on the next working day: every process's clock in the routing bench, so
    steps open at once and agencies may act on them (an action dated before its step opened is
    refused), whatever the hour the bench runs at."""
    from routing.calendar import WorkingCalendar

    today = datetime.now(VIETNAM).date()
    return datetime.combine(WorkingCalendar.default().next_working_day(today), time(9), VIETNAM)


@dataclass
class BenchSystem(BenchIntake):
    """Intake and routing together (no intake-consumer, no routing-timer), on a clock file fixed at
    a working instant (:func:`working_instant`)."""

    receiving_agency_id: str = RECEIVING_DESK
    agency_secrets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        from routing.geography import Geography

        geography = Geography.load()
        self.agency_ids = sorted({a.id for a in geography.agencies})
        self.stream_agency_ids = sorted(geography.stream_integrated_agency_ids())
        self.clock_file = self.work_dir / f"clock-{self.suffix}.txt"
        FileClock(self.clock_file).set(working_instant())
        self.desk_client_id = f"bench-desk-{self.suffix}"
        self.desk_secret = secrets.token_urlsafe(32)
        self.agency_secrets = {agency: secrets.token_urlsafe(24) for agency in self.agency_ids}

    @property
    def topic_partitions(self) -> dict[str, int]:
        # The agency inbox and reply topics are created here (one partition, as routing-relay would create
        # them) so that they exist before the tail starts and are deleted with the rest.
        return {self.events_topic: PARTITIONS, self.status_topic: PARTITIONS, self.routing_topic: PARTITIONS,
                self.postal_topic: PARTITIONS, self.dead_letter_topic: 1, self.baseline_topic: PARTITIONS,
                **{self.agency_inbox_topic(a): 1 for a in self.stream_agency_ids},
                **{self.agency_reply_topic(a): 1 for a in self.stream_agency_ids}}

    @property
    def schemas(self) -> list[str]:
        return [self.intake_schema, self.routing_schema, self.documents_schema]

    @property
    def consumer_groups(self) -> list[str]:
        return [self.routing_group]

    @property
    def process_names(self) -> tuple[str, ...]:
        return SYSTEM_PROCESS_NAMES

    def agency_client_id(self, agency_id: str) -> str:
        return f"bench-agency-{agency_id.lower()}-{self.suffix}"

    def clients(self) -> list[dict[str, object]]:
        desk = client_entry(self.desk_client_id, "desk", self.receiving_agency_id,
                            ["dossier:submit", "dossier:read", "dossier:accept"], self.desk_secret)
        return [desk, *(client_entry(self.agency_client_id(agency), "agency", agency, ["dossier:read", "inbox:act"],
                                     secret) for agency, secret in self.agency_secrets.items())]

    def desk_token(self) -> str:
        return self.client_token(self.desk_client_id, self.desk_secret)

    def agency_token(self, agency_id: str) -> str:
        return self.client_token(self.agency_client_id(agency_id), self.agency_secrets[agency_id])
