"""docker-compose.yml: one container per runnable process, wired to healthy Kafka and PostgreSQL.

Compose itself does not run here: these tests read the file as YAML (anchors merged, the way
compose merges them) and hold it against services/registry.py and each process's settings
class, so a process added to the registry is checked without editing this file.
"""

from __future__ import annotations

import re
import shlex
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from services.registry import PROCESSES, ProcessSpec
from services.settings import ServiceSettings

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
INFRASTRUCTURE = ("kafka", "postgres")
LOOPBACK = {"127.0.0.1", "::1"}
BASE_PREFIX = "LIENTHONG_"
# ${NAME}, ${NAME:-default}, ${NAME:?message} …; "$${" is compose's escape for a literal "${".
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>\w+)(?P<operator>:?[-?+])?(?P<argument>[^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|SIGNING_KEY|PRIVATE_KEY|API_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment as a mapping, whichever of compose's two forms it uses."""
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.partition("=")[::2] for item in declared)
    return {key: "" if value is None else str(value) for key, value in declared.items()}


def command(service: dict) -> list[str]:
    declared = service.get("command") or []
    return shlex.split(declared) if isinstance(declared, str) else [str(part) for part in declared]


def depends_on(service: dict) -> dict[str, str]:
    """Each dependency of a service with the condition compose waits for."""
    declared = service.get("depends_on") or {}
    if isinstance(declared, list):
        return dict.fromkeys(declared, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in declared.items()}


def process_services(compose: dict) -> dict[str, ProcessSpec]:
    """Compose services running ``lienthong run <process>``, by service name."""
    found = {}
    for name, service in services(compose).items():
        argv = command(service)
        if len(argv) >= 2 and argv[0] == "run" and "entrypoint" not in service:
            found[name] = PROCESSES.get(argv[1])
    return found


def settings_class(spec: ProcessSpec) -> type:
    module, _, attribute = spec.settings.partition(":")
    return getattr(import_module(module), attribute)


def service_processes(compose: dict) -> dict[str, ProcessSpec]:
    """The process services that are lienthong's own (the carrier simulator, a partner's stand-in, is not)."""
    return {name: spec for name, spec in process_services(compose).items()
            if spec is not None and issubclass(settings_class(spec), ServiceSettings)}


def is_required_variable(value: str) -> bool:
    """Whether ``value`` is exactly ``${NAME:?message}``: compose refuses to start without it."""
    match = INTERPOLATION.fullmatch(value.strip())
    return match is not None and match["operator"] == ":?"


def url_password(value: str) -> str | None:
    """The password in a URL, with compose's interpolations left as they are written."""
    written = {}

    def placeholder(match: re.Match[str]) -> str:
        token = f"interpolation{len(written)}"
        written[token] = match[0]
        return token

    password = urlsplit(INTERPOLATION.sub(placeholder, value)).password
    return None if password is None else written.get(password, password)


def published_host_ips(service: dict) -> list[str | None]:
    """The host address each published port binds (None: every interface)."""
    addresses = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            addresses.append(port.get("host_ip"))
            continue
        mapping = str(port).partition("/")[0]
        if mapping.startswith("["):
            addresses.append(mapping[1:mapping.index("]")])
        else:
            parts = mapping.split(":")
            addresses.append(parts[0] if len(parts) == 3 else None)
    return addresses


def published_container_ports(service: dict) -> set[int]:
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add(int(port["target"]))
        else:
            ports.add(int(str(port).partition("/")[0].rsplit(":", 1)[-1]))
    return ports


def uses(service: dict, dependency: str) -> bool:
    """Whether a service addresses ``dependency`` (``kafka:9092``, ``@postgres:5432``) anywhere."""
    text = " ".join([*environment(service).values(), *command(service)])
    return re.search(rf"(?<![\w.-]){dependency}:\d+", text) is not None


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_runnable_process_has_a_compose_service(compose, process):
    running = [name for name, spec in process_services(compose).items() if spec and spec.name == process]
    assert len(running) == 1, f"{process}: expected one service running `lienthong run {process}`, got {running}"


def test_every_compose_service_that_runs_a_process_names_a_registered_one(compose):
    unknown = [name for name, spec in process_services(compose).items() if spec is None]
    assert not unknown, f"services running a process missing from services/registry.py: {unknown}"


def test_every_process_service_runs_the_project_image(compose):
    for name in process_services(compose):
        build = services(compose)[name].get("build")
        context = build.get("context") if isinstance(build, dict) else build
        assert context == ".", f"{name} is not built from the project's Dockerfile"


def test_services_that_use_kafka_or_postgres_wait_until_they_are_healthy(compose):
    for name, service in services(compose).items():
        for dependency in INFRASTRUCTURE:
            if name != dependency and uses(service, dependency):
                assert depends_on(service).get(dependency) == "service_healthy", \
                    f"{name} uses {dependency} but does not wait for it to be healthy"


def test_every_process_service_reaches_kafka_and_postgres_inside_the_compose_network(compose):
    for name, spec in service_processes(compose).items():
        env = environment(services(compose)[name])
        assert env.get(f"{spec.env_prefix}KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092", name
        database = urlsplit(INTERPOLATION.sub("x", env.get(f"{spec.env_prefix}DATABASE_URL", "")))
        assert (database.hostname, database.port) == ("postgres", 5432), name


def test_every_process_service_waits_for_the_declared_topics_to_be_created(compose):
    for name in process_services(compose):
        assert depends_on(services(compose)[name]).get("topics") == "service_completed_successfully", name


def test_the_topics_service_creates_the_declared_topics_on_the_broker_the_processes_use(compose):
    topics = services(compose)["topics"]
    assert "ensure_topics" in " ".join(command(topics))
    assert environment(topics)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert topics.get("restart", "no") == "no", "a one-shot service must not be restarted"


LONG_RUNNING_RESTART_POLICIES = {"unless-stopped", "always", "on-failure"}


def test_every_long_running_service_is_restarted_when_it_exits(compose):
    long_running = {name: service for name, service in services(compose).items()
                    if name in process_services(compose) or name in INFRASTRUCTURE}
    assert set(process_services(compose)) and set(INFRASTRUCTURE) <= set(long_running)
    policies = {name: str(service.get("restart", "no")).split(":")[0] for name, service in long_running.items()}
    assert all(policy in LONG_RUNNING_RESTART_POLICIES for policy in policies.values()), policies


@pytest.mark.parametrize("dependency", INFRASTRUCTURE)
def test_kafka_and_postgres_have_healthchecks(compose, dependency):
    healthcheck = services(compose)[dependency].get("healthcheck") or {}
    assert healthcheck.get("test") and healthcheck["test"] != ["NONE"] and not healthcheck.get("disable")


def test_every_http_process_has_a_readiness_healthcheck(compose):
    for name, spec in process_services(compose).items():
        if spec.app_factory is not None:
            test = " ".join(services(compose)[name].get("healthcheck", {}).get("test", []))
            assert "/readyz" in test, f"{name} has no healthcheck on /readyz"


def test_every_http_process_listens_on_all_container_interfaces_and_publishes_its_port(compose):
    for name, spec in process_services(compose).items():
        if spec.app_factory is None:
            continue
        env = environment(services(compose)[name])
        default_port = settings_class(spec).model_fields["http_port"].default
        port = int(env.get(f"{spec.env_prefix}HTTP_PORT", default_port))
        assert env.get(f"{spec.env_prefix}HTTP_HOST") == "0.0.0.0", name
        assert port in published_container_ports(services(compose)[name]), name
        assert f":{port}/readyz" in " ".join(services(compose)[name]["healthcheck"]["test"]), name


def test_every_published_port_binds_the_loopback_interface_only(compose):
    for name, service in services(compose).items():
        for address in published_host_ips(service):
            assert address in LOOPBACK, f"{name} publishes a port on {address or 'every interface'}"


def test_no_environment_value_holds_a_literal_secret(compose):
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert is_required_variable(value), f"{name}: {key} must be ${{VAR:?message}}"
            password = url_password(value) if "://" in value else None
            if password is not None:
                assert is_required_variable(password), f"{name}: the password in {key} must be ${{VAR:?message}}"


def test_every_compose_secret_is_read_from_a_file_the_operator_names(compose):
    for name, secret in (compose.get("secrets") or {}).items():
        assert is_required_variable(str(secret.get("file", ""))), f"secret {name} must come from ${{VAR:?message}}"


def test_every_process_service_runs_in_production_with_a_mounted_client_list(compose):
    for name, spec in service_processes(compose).items():
        service = services(compose)[name]
        env = environment(service)
        assert env.get(f"{spec.env_prefix}ENVIRONMENT") == "production", name
        clients_file = env.get(f"{spec.env_prefix}AUTH_CLIENTS_FILE", "")
        mounted = {f"/run/secrets/{s['target']}" if isinstance(s, dict) else f"/run/secrets/{s}"
                   for s in service.get("secrets") or []}
        assert clients_file in mounted, f"{name}: the client list {clients_file!r} is not a mounted secret"


def test_every_prefixed_variable_a_service_sets_is_a_field_of_that_prefix_settings(compose):
    settings_by_prefix = {spec.env_prefix: settings_class(spec) for spec in PROCESSES.values()}
    runs = process_services(compose)
    for name, service in services(compose).items():
        own_prefix = runs[name].env_prefix if runs.get(name) else None
        for key in environment(service):
            prefix = next((p for p in sorted(settings_by_prefix, key=len, reverse=True) if key.startswith(p)), None)
            if prefix is None:
                assert own_prefix is None or not key.startswith(BASE_PREFIX), \
                    f"{name}: {key} is read by no process; use the {own_prefix} prefix"
                continue
            assert own_prefix in (None, prefix), f"{name} runs a {own_prefix} process but sets {key}"
            settings = settings_by_prefix[prefix]
            assert key[len(prefix):].lower() in settings.model_fields, \
                f"{name}: {key} is not a field of {settings.__name__}"


def test_the_kafka_broker_is_apache_kafka_4_in_kraft_mode(compose):
    kafka = services(compose)["kafka"]
    env = environment(kafka)
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert not any("ZOOKEEPER" in key for service in services(compose).values() for key in environment(service))
    assert not any("zookeeper" in str(service.get("image", "")) for service in services(compose).values())


def test_kafka_creates_no_topic_on_first_use(compose):
    assert environment(services(compose)["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false"


def test_kafka_internal_topics_have_one_replica_on_the_single_broker(compose):
    env = environment(services(compose)["kafka"])
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", key


def test_a_process_that_is_not_a_lienthong_service_runs_only_in_the_demo_profile(compose):
    stand_ins = set(process_services(compose)) - set(service_processes(compose))
    assert stand_ins == {"postal-sim"}
    assert all(services(compose)[name].get("profiles") == ["demo"] for name in stand_ins)
