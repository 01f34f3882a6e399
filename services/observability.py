"""JSON logs carrying the dossier code and correlation id, and Prometheus metrics.

The current dossier code and correlation id live in context variables; an HTTP
middleware and the Kafka loops set them, and every log line written while they are set
carries them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response

dossier_code_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("dossier_code", default=None)
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

CORRELATION_HEADER = "X-Correlation-ID"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, extras."""

    _RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (code := dossier_code_var.get()) is not None:
            entry["dossier_code"] = code
        if (cid := correlation_id_var.get()) is not None:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


LOG_INTERVAL_SECONDS = 10.0
"""A repeated failure is logged at most once in this interval (with how many there were)."""

LIBRARY_LOGGERS = ("aiokafka", "kafka", "psycopg", "asyncpg")
"""Libraries whose repeated warnings and errors are folded (they log every failed attempt)."""


class ThrottledLog:
    """At most one line per ``interval`` for one repeated failure, carrying ``occurrences``.

    The first failure is logged at once; later ones within the interval are counted and
    reported with the next line written (a Kafka outage gives one line every 10 s, not
    dozens a second).
    """

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._count = 0

    def log(self, level: int, message: str, *, exc_info: object = None,
            extra: dict[str, object] | None = None) -> bool:
        """Log now if the interval has passed since the last line; True when written."""
        self._count += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._logger.log(level, message, exc_info=exc_info,  # type: ignore[arg-type]
                         extra={**(extra or {}), "occurrences": self._count})
        self._last, self._count = now, 0
        return True

    def warning(self, message: str, **kwargs: object) -> bool:
        return self.log(logging.WARNING, message, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str, **kwargs: object) -> bool:
        return self.log(logging.ERROR, message, **kwargs)  # type: ignore[arg-type]


class RepeatFilter(logging.Filter):
    """Lets through one record per (logger, message template) per ``interval``; counts the rest.

    The record that passes after a quiet spell carries ``suppressed``: how many like it
    were dropped since the last one written.
    """

    def __init__(self, interval: float = LOG_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(LIBRARY_LOGGERS) or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._interval:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if last is not None and last[1]:
            record.suppressed = last[1]
        return True


_HANDLER_NAME = "lienthong-json"


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of the process to stderr as JSON lines.

    The libraries' own warnings and errors about a dependency that is down are folded by
    :class:`RepeatFilter`.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only the handler this function installed before: a process run in a test keeps
    # the test's own handlers (log capture).
    root.handlers[:] = [*(h for h in root.handlers if h.get_name() != _HANDLER_NAME), handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "psycopg.pool", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Metrics:
    """The metrics one process exposes at ``/metrics``; one instance per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests answered", ["method", "route", "status"],
            registry=self.registry)
        self.http_latency = Histogram(
            "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
            registry=self.registry)
        self.events_published = Counter(
            "events_published_total", "Stored events published to Kafka by the relay", ["topic"],
            registry=self.registry)
        self.messages_consumed = Counter(
            "messages_consumed_total", "Kafka messages applied by a consumer", ["topic", "outcome"],
            registry=self.registry)
        self.dead_letters = Counter(
            "dead_letters_total", "Messages sent to the dead-letter topic", ["topic"],
            registry=self.registry)
        self.unpublishable_events = Counter(
            "relay_unpublishable_events_total", "Stored events the relay could not encode and skipped",
            ["topic"], registry=self.registry)
        self.retries = Counter(
            "infrastructure_retries_total", "Attempts retried because a dependency failed", ["operation"],
            registry=self.registry)


def unexpected_error_response(exc: Exception, path: str) -> Response:
    """What an exception no entry point translated becomes: 503 when a dependency failed, else 500
    (:func:`services.problems.unexpected_error_response`)."""
    from services.problems import unexpected_error_response as answer

    return answer(exc, path)


def correlation_middleware(
    metrics: Metrics,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Middleware: take or mint a correlation id, echo it, count and time the request."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        token = correlation_id_var.set(cid[:128])
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            response = unexpected_error_response(exc, request.url.path)
        finally:
            correlation_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.http_latency.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers[CORRELATION_HEADER] = cid[:128]
        return response

    return middleware
