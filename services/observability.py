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
from datetime import datetime, timezone

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
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
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


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of the process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
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


def internal_error_response(path: str) -> Response:
    from services.problems import Problem, problem_response

    problem = Problem(500, "internal-error", "Lỗi hệ thống", "Đã ghi nhận lỗi; vui lòng thử lại sau.")
    return problem_response(problem, path)


def correlation_middleware(metrics: Metrics) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Middleware: take or mint a correlation id, echo it, count and time the request."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        cid = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        token = correlation_id_var.set(cid[:128])
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - answer here, while the correlation id is still set
            logging.getLogger("services.problems").exception("unhandled error", extra={"path": request.url.path})
            response = internal_error_response(request.url.path)
        finally:
            correlation_id_var.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.http_latency.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers[CORRELATION_HEADER] = cid[:128]
        return response

    return middleware
