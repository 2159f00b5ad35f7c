"""The app factory. Every long-lived resource is one cleanup context, so startup reads top to
bottom here and teardown runs in exact reverse: workers stop (and hand back their jobs)
while the LISTEN connection and the pool they need are still open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handlers.catalog import default_registry
from handlers.generator import StudyGenerator
from handlers.pricing import load_price_table
from handlers.providers import Provider, build_generator
from handlers.providers.cpu import ProcessPool, default_pool_size
from handlers.registry import HandlerRegistry
from server.config import Settings
from server.database import apply_schema, create_pool, resolve_database_url
from server.http import access_log, api, fragments, library, pages, study_pages
from server.http.events import EventHub
from server.http.middleware import auth_middleware, errors_middleware
from server.http.openapi import openapi_document
from server.keys import (
    CPU_POOL,
    DSN,
    GENERATOR,
    HUB,
    JOBS,
    LIBRARY,
    LISTENER,
    METRICS,
    POOL,
    QUEUE,
    REGISTRY,
    SETTINGS,
    WORKERS,
)
from server.llm_limit import AdaptiveLimit, LimitedGenerator
from server.maintenance import run_maintenance
from server.metrics import Metrics
from server.queue.engine import JobQueue
from server.queue.listener import Listener
from server.queue.service import JobService
from server.queue.workers import WorkerPool, WorkerSettings
from server.store.library import StudyLibrary

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # 100k characters of JSON-escaped text fit; more is a 413
# Small and fixed, whatever CARDFORGE_WORKERS says: a job holds a connection only for the
# statement it runs, never while it waits on the LLM, and the claimer, heartbeat and
# completions batch their statements. More connections would only queue inside PostgreSQL.
POOL_CONNECTIONS = 16


def create_app(
    settings: Settings,
    *,
    registry: HandlerRegistry | None = None,
    generator: StudyGenerator | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, auth_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    app[REGISTRY] = registry if registry is not None else default_registry()
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(database_ctx)
    if generator is None:
        app.cleanup_ctx.append(cpu_pool_ctx)
    app.cleanup_ctx.append(generator_ctx(generator))
    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(listener_ctx)
    app.cleanup_ctx.append(workers_ctx)
    app.cleanup_ctx.append(maintenance_ctx)
    app.on_shutdown.append(close_event_streams)
    app.add_routes(api.routes)
    app.add_routes(library.routes)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
            web.get("/api/openapi.json", openapi),
        ]
    )
    access_log.setup(app)
    pages.setup(app)
    app.add_routes(fragments.routes)
    app.add_routes(study_pages.routes)
    return app


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dsn, stop_embedded = await resolve_database_url(settings.database_url, settings.data_dir)
    app[DSN] = dsn
    try:
        pool = await create_pool(dsn, max_size=POOL_CONNECTIONS)
        async with pool.acquire() as conn:
            await apply_schema(conn)
        app[POOL] = pool
        yield
        await pool.close()
    finally:
        if stop_embedded is not None:
            stop_embedded()


async def cpu_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    """Processes for the offline generator's computation, so no input can stall this loop.

    Only a replica that runs jobs with the offline provider needs them. They start in the
    background (a job arriving first waits for them); teardown comes after the workers have
    stopped, so no process is mid-call.
    """
    settings = app[SETTINGS]
    if settings.provider is not Provider.OFFLINE or settings.workers == 0:
        yield
        return
    pool = ProcessPool(
        default_pool_size(settings.workers), time_limit_s=settings.offline_time_limit_seconds
    )
    app[CPU_POOL] = pool
    starting = asyncio.ensure_future(pool.start())
    yield
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    await pool.aclose()


def generator_ctx(
    given: StudyGenerator | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        generator = given or build_generator(
            settings.provider.value,
            api_key=settings.anthropic_api_key,
            model=settings.model,
            base_url=settings.anthropic_base_url,
            timeout_s=settings.llm_timeout_seconds,
            cpu=app.get(CPU_POOL),
            prices=load_price_table(settings.price_table),
        )
        # every job's calls share one adaptive limit, so a burst is not a 429 storm
        limit = AdaptiveLimit(settings.llm_concurrency, metrics=app[METRICS])
        app[GENERATOR] = LimitedGenerator(generator, limit)
        log.info("generation provider: %s (%s)", generator.provider, generator.model)
        if getattr(generator, "price", None) is None:
            log.warning("no price for model %s in the price table: job costs will show as "
                        "unknown (see CARDFORGE_PRICE_TABLE)", generator.model)
        yield
        if given is None:
            await generator.aclose()

    return ctx


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, pool = app[SETTINGS], app[POOL]
    app[QUEUE] = JobQueue(
        pool,
        rate_limit=settings.rate_limit,
        max_attempts=settings.max_attempts,
        lease_s=settings.lease_seconds,
        retry_base_s=settings.retry_base_seconds,
        retry_max_s=settings.retry_max_seconds,
        user_concurrency=settings.user_concurrency,
    )
    app[LIBRARY] = StudyLibrary(pool)
    app[JOBS] = JobService(app[QUEUE], app[LIBRARY], app[METRICS])
    app[HUB] = EventHub(
        app[METRICS], app[QUEUE], max_streams_per_user=settings.max_streams_per_user
    )
    app[WORKERS] = WorkerPool(
        queue=app[QUEUE],
        registry=app[REGISTRY],
        generator=app[GENERATOR],
        settings=WorkerSettings(
            concurrency=settings.workers,
            lease_s=settings.lease_seconds,
            poll_s=settings.poll_seconds,
            job_timeout_s=settings.job_timeout_seconds,
        ),
        metrics=app[METRICS],
    )
    yield


async def listener_ctx(app: web.Application) -> AsyncIterator[None]:
    hub, workers, metrics = app[HUB], app[WORKERS], app[METRICS]

    def on_job_event(event: dict[str, object]) -> None:
        hub.publish(event)
        workers.on_job_event(event)

    async def on_reconnect() -> None:
        metrics.listener_reconnects.inc()
        workers.wake_all()
        await hub.resync()

    listener = Listener(
        app[DSN], on_work=workers.wake, on_job_event=on_job_event, on_reconnect=on_reconnect
    )
    await listener.start()
    app[LISTENER] = listener
    yield
    await listener.stop()


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    workers, settings = app[WORKERS], app[SETTINGS]
    if settings.workers > 0:
        await workers.start()
        log.info("%d worker(s) started as %s", settings.workers, workers.worker_id)
    yield
    if settings.workers > 0:
        await workers.stop(settings.shutdown_grace_seconds)


async def maintenance_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(
        run_maintenance(app[QUEUE], app[SETTINGS].retention_days), name="cardforge-maintenance"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_event_streams(app: web.Application) -> None:
    """Shutdown: tell every SSE client to come back soon (to another replica, or to us)."""
    if HUB in app:
        app[HUB].close()


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = {"database": False, "listener": app[LISTENER].connected.is_set()}
    if app[SETTINGS].workers > 0:
        checks["workers"] = app[WORKERS].ready
    try:
        async with app[POOL].acquire(timeout=2) as conn:
            checks["database"] = await conn.fetchval("SELECT true", timeout=2)
    except Exception as err:  # any failure means "not ready", and says why
        log.warning("readiness check failed: %s", err)
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
