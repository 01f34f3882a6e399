"""The Kafka topics lienthong uses: the declaration in ``topics.yaml`` and its creation.

Contract:

* :func:`load_spec` reads a topics file (``infra/topics.yaml`` by default) into
  :class:`TopicSpec` values, raising :class:`TopicSpecError` when a topic lacks a legal
  name, a description, at least one partition or a replication factor, or is declared twice.
  Config values become strings, as Kafka expects.
* :func:`ensure_topics` creates the declared topics missing from a cluster and returns
  their names; topics that already exist are left as they are (even if their settings
  differ), so running it again, or concurrently, is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

DEFAULT_SPEC_FILE = Path(__file__).resolve().parent / "topics.yaml"
LEGAL_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class TopicSpecError(ValueError):
    """The topics file is malformed."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


def _topic(entry: object) -> TopicSpec:
    if not isinstance(entry, dict):
        raise TopicSpecError(f"each topic must be a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not LEGAL_NAME.match(name) or name in (".", ".."):
        raise TopicSpecError(f"illegal topic name: {name!r}")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise TopicSpecError(f"topic {name} has no description")
    partitions, replication_factor = (_count(entry, name, key) for key in ("partitions", "replication_factor"))
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise TopicSpecError(f"topic {name}: config must be a mapping")
    return TopicSpec(name, description.strip(), partitions, replication_factor,
                     {str(key): str(value) for key, value in config.items()})


def _count(entry: dict[str, object], name: str, key: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TopicSpecError(f"topic {name}: {key} must be an integer ≥ 1, got {value!r}")
    return value


def load_spec(path: Path | str = DEFAULT_SPEC_FILE) -> tuple[TopicSpec, ...]:
    """The topics declared in ``path``, in file order."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = document.get("topics") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TopicSpecError(f"{path} declares no topics (expected a `topics:` list)")
    topics = tuple(_topic(entry) for entry in entries)
    seen: set[str] = set()
    for topic in topics:
        if topic.name in seen:
            raise TopicSpecError(f"topic {topic.name} is declared more than once")
        seen.add(topic.name)
    return topics


async def ensure_topics(bootstrap_servers: str, spec: Sequence[TopicSpec] | None = None,
                        timeout_ms: int = 30000) -> list[str]:
    """Create the topics of ``spec`` (default: :func:`load_spec`) missing from the cluster."""
    spec = load_spec() if spec is None else spec
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in spec if t.name not in existing]
        if not missing:
            return []
        requests = [NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=dict(t.config))
                    for t in missing]
        response = await admin.create_topics(requests, timeout_ms=timeout_ms)
    finally:
        await admin.close()
    created = []
    for topic, code, *message in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif for_code(code) is not TopicAlreadyExistsError:
            raise for_code(code)(f"creating topic {topic}: {message[0] if message else ''}")
    return created
