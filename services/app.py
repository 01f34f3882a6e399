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
from services.observability import Metrics, configure_logging, correlation_middleware
from services.problems import PROBLEM_MEDIA_TYPE, document_problems, install_problem_handlers
from services.settings import ServiceSettings

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
    adds named checks to ``app.state.readiness``; ``/readyz`` is 200 only when all pass.
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
        async with lifespan(app):
            yield

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=outer_lifespan)
    install_problem_handlers(app)
    app.middleware("http")(correlation_middleware(metrics))
    app.include_router(token_router())
    app.include_router(_operations_router(metrics))
    for router in routers:
        app.include_router(router)
    document_problems(app)
    return app


def _operations_router(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency is not reachable"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: every dependency (PostgreSQL, Kafka) answers within 2 s."""
        checks: dict[str, ReadinessCheck] = request.app.state.readiness
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        ready = all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": results})
        return JSONResponse(
            {"type": "https://lienthong.gov.vn/problems/not-ready", "title": "Dịch vụ chưa sẵn sàng",
             "status": 503, "checks": results},
            status_code=503, media_type=PROBLEM_MEDIA_TYPE)

    @router.get("/metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
