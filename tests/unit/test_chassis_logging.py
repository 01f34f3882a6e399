"""JSON log lines carry the dossier code and correlation id in force, and the extras."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

from services.observability import JsonFormatter, RepeatFilter, ThrottledLog, correlation_id_var, dossier_code_var
from services.settings import DEV_CLIENTS_FILE
from tests.random_refs import random_agency_id, random_suffix


@contextmanager
def in_context(*, dossier_code: str | None, correlation_id: str | None) -> Iterator[None]:
    code_token = dossier_code_var.set(dossier_code)
    correlation_token = correlation_id_var.set(correlation_id)
    try:
        yield
    finally:
        dossier_code_var.reset(code_token)
        correlation_id_var.reset(correlation_token)


def a_record(message: str, *args: object, extra: dict | None = None, exc_info=None) -> logging.LogRecord:
    logger = logging.getLogger(f"lienthong.test.{random_suffix()}")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args, exc_info, extra=extra)


def test_a_log_line_is_one_json_object_with_the_dossier_code_and_correlation_id() -> None:
    service = f"intake-{random_suffix()}"
    code = f"{random_agency_id()}-251128-0001"
    correlation_id = str(uuid4())
    record = a_record("tiếp nhận hồ sơ %s", code)

    with in_context(dossier_code=code, correlation_id=correlation_id):
        line = JsonFormatter(service).format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["service"] == service
    assert entry["level"] == "warning"
    assert entry["logger"] == record.name
    assert entry["message"] == f"tiếp nhận hồ sơ {code}"
    assert entry["dossier_code"] == code
    assert entry["correlation_id"] == correlation_id
    assert entry["time"].endswith("+00:00")


def test_a_log_line_includes_the_extras_and_renders_the_unserialisable_ones_as_text() -> None:
    offset = 40 + len(random_suffix())
    event_id = uuid4()
    record = a_record("applied", extra={"topic": "lienthong.dossier-status", "offset": offset,
                                        "event_id": event_id, "file": DEV_CLIENTS_FILE})

    with in_context(dossier_code=None, correlation_id=str(uuid4())):
        entry = json.loads(JsonFormatter("intake").format(record))

    assert entry["topic"] == "lienthong.dossier-status"
    assert entry["offset"] == offset
    assert entry["event_id"] == str(event_id)
    assert entry["file"] == str(DEV_CLIENTS_FILE)


def test_a_log_line_outside_any_dossier_carries_neither_code_nor_correlation_id() -> None:
    with in_context(dossier_code=None, correlation_id=None):
        entry = json.loads(JsonFormatter("intake").format(a_record("started")))

    assert "dossier_code" not in entry
    assert "correlation_id" not in entry


def test_a_log_line_leaves_out_the_standard_record_attributes() -> None:
    with in_context(dossier_code=None, correlation_id=None):
        entry = json.loads(JsonFormatter("intake").format(a_record("started")))

    assert set(entry) == {"time", "level", "service", "logger", "message"}


def test_a_log_line_of_an_exception_carries_its_traceback() -> None:
    reason = f"broken {random_suffix()}"
    try:
        raise ValueError(reason)
    except ValueError:
        record = a_record("failed", exc_info=sys.exc_info())

    entry = json.loads(JsonFormatter("intake").format(record))

    assert entry["exception"].startswith("Traceback")
    assert f"ValueError: {reason}" in entry["exception"]
    assert "exc_info" not in entry and "exc_text" not in entry


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def a_kept_logger(name: str) -> tuple[logging.Logger, Keep]:
    logger = logging.getLogger(name)
    keep = Keep()
    logger.handlers[:] = [keep]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, keep


def test_a_repeated_failure_is_logged_once_per_interval_with_how_many_there_were() -> None:
    logger, keep = a_kept_logger(f"lienthong.test.{random_suffix()}")
    clock = FakeClock()
    throttled = ThrottledLog(logger, interval=10.0, clock=clock)

    written = [throttled.error("kafka is down") for _ in range(75)]
    clock.now += 10.0
    throttled.error("kafka is down")

    assert written.count(True) == 1
    assert [r.occurrences for r in keep.records] == [1, 75]  # type: ignore[attr-defined]


def test_library_warnings_repeated_within_the_interval_are_folded_into_the_next_line() -> None:
    logger, keep = a_kept_logger(f"aiokafka.test.{random_suffix()}")
    clock = FakeClock()
    keep.addFilter(RepeatFilter(interval=10.0, clock=clock))

    for _ in range(75):
        logger.error("Unable connect to node with id %s", 1)
    logger.error("another message")
    clock.now += 10.0
    logger.error("Unable connect to node with id %s", 1)

    assert [r.getMessage() for r in keep.records] == [
        "Unable connect to node with id 1", "another message", "Unable connect to node with id 1"]
    assert keep.records[-1].suppressed == 74  # type: ignore[attr-defined]


def test_our_own_log_lines_are_never_folded() -> None:
    logger, keep = a_kept_logger(f"lienthong.test.{random_suffix()}")
    keep.addFilter(RepeatFilter(interval=10.0, clock=FakeClock()))

    for _ in range(3):
        logger.error("a dossier was refused")

    assert len(keep.records) == 3
