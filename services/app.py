"""The FastAPI app factory every HTTP service uses.

Nothing is built at import time: :func:`create_service_app` returns an app whose lifespan
configures logging, loads the client list and signing key, then enters the service's own
lifespan, which opens its connections and registers its readiness checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.auth import ClientRegistry, TokenIssuer, token_router
from services.edge import install_edge
from services.observability import Metrics, configure_logging, correlation_middleware
from services.problems import PROBLEM_MEDIA_TYPE, document_problems, install_problem_handlers
from services.settings import ServiceSettings

READINESS_TIMEOUT_SECONDS = 2.0

ReadinessCheck = Callable[[], Awaitable[None]]
ServiceLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    lifespan: ServiceLifespan,
    routers: Sequence[APIRouter],
    metrics: Metrics | None = None,
) -> FastAPI:
    """An app with auth, problem+json errors, ``/healthz``, ``/readyz`` and ``/metrics``.

    ``lifespan(app)`` opens the service's resources, stores them on ``app.state`` and
    adds named checks to ``app.state.readiness``; ``/readyz`` is 200 only when all pass,
    except those named in ``app.state.degradable``: while one of these fails the service is
    still ready, ``"status": "degraded"``.
    """
    metrics = metrics or Metrics()

    @asynccontextmanager
    async def outer_lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.client_registry = ClientRegistry.load(settings.auth_clients_file)
        app.state.token_issuer = TokenIssuer(settings.auth_signing_key, settings.auth_token_ttl_seconds)
        app.state.readiness = {}
        app.state.degradable = set()
        async with lifespan(app):
            yield

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=outer_lifespan)
    install_problem_handlers(app)
    # The edge (413, 415, 503) runs inside the correlation middleware, so its answers keep the
    # correlation id and are counted.
    install_edge(app, settings)
    app.middleware("http")(correlation_middleware(metrics))
    app.include_router(token_router())
    app.include_router(_operations_router(metrics))
    for router in routers:
        app.include_router(router)
    document_problems(app)
    return app


async def _probe(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), timeout=READINESS_TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"[:300]


def _operations_router(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency the service needs is not reachable"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: what the process can still serve.

        Every dependency is checked (2 s each, at once).  Ready (200) when every required
        one answers — ``"status": "ready"``, or ``"degraded"`` naming a failed dependency
        the service can work without for a while (Kafka for an HTTP service: events are
        stored and published later).  503 problem+json when a required one (PostgreSQL) fails.
        """
        checks: dict[str, ReadinessCheck] = request.app.state.readiness
        degradable: set[str] = request.app.state.degradable
        outcomes = await asyncio.gather(*(_probe(check) for check in checks.values()))
        results = dict(zip(checks, outcomes, strict=True))
        failed = {name for name, outcome in results.items() if outcome != "ok"}
        if not failed:
            return JSONResponse({"status": "ready", "checks": results})
        if failed <= degradable:
            return JSONResponse({"status": "degraded", "degraded": sorted(failed), "checks": results})
        return JSONResponse(
            {"type": "https://lienthong.gov.vn/problems/not-ready", "title": "Dịch vụ chưa sẵn sàng",
             "status": 503, "checks": results},
            status_code=503, media_type=PROBLEM_MEDIA_TYPE, headers={"Retry-After": "5"})

    @router.get("/metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
