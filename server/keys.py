"""Typed keys for the app's long-lived state (set up by the cleanup contexts in server.app)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from handlers.generator import StudyGenerator
from handlers.providers.cpu import ProcessPool
from handlers.registry import HandlerRegistry
from server.config import Settings
from server.http.events import EventHub
from server.metrics import Metrics
from server.queue.engine import JobQueue
from server.queue.listener import Listener
from server.queue.service import JobService
from server.queue.workers import WorkerPool
from server.store.library import StudyLibrary

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", HandlerRegistry)
METRICS = web.AppKey("metrics", Metrics)
DSN = web.AppKey("dsn", str)
POOL = web.AppKey("pool", asyncpg.Pool)
CPU_POOL = web.AppKey("cpu_pool", ProcessPool)
GENERATOR = web.AppKey("generator", StudyGenerator)
QUEUE = web.AppKey("queue", JobQueue)
JOBS = web.AppKey("jobs", JobService)
LIBRARY = web.AppKey("library", StudyLibrary)
HUB = web.AppKey("hub", EventHub)
LISTENER = web.AppKey("listener", Listener)
WORKERS = web.AppKey("workers", WorkerPool)
