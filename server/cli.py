"""The ``cardforge`` command: serve, migrate, user create, bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from aiohttp import web

from server.config import Settings, SettingsError, load_settings
from server.database import (
    MigrationError,
    apply_schema,
    connect,
    create_pool,
    migration_status,
    resolve_database_url,
)
from server.logs import configure_logging

log = logging.getLogger("cardforge")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server and its workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None,
                       help="worker tasks in this process (0: API-only replica)")
    serve.add_argument("--demo", action="store_true",
                       help="create a demo user if needed and print a one-click login link")

    migrate = sub.add_parser(
        "migrate", help="apply schema.sql and the pending numbered migrations"
    )
    migrate.add_argument("--status", action="store_true",
                         help="list migrations: applied (with times) or pending")

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create a user and print its API token")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print {id, name, token} as JSON")

    bench = sub.add_parser("bench", help="measure queue throughput and pickup latency")
    bench.add_argument("--jobs", type=int, default=5000)
    bench.add_argument("--workers", type=int, nargs="+", default=None,
                       help="in-flight slots of the queue runs (default: 4 16; with --peer: "
                            "64, cardforge's default)")
    bench.add_argument("--latency-samples", type=int, default=50)
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument("--offline", metavar="TEXT_FILE",
                       help="instead: time the offline generator on this text (no database)")
    bench.add_argument("--chars", type=int, default=60_000,
                       help="with --offline: repeat or cut the text to this many characters")
    bench.add_argument("--quality", metavar="DIR", nargs="?", const="",
                       help="instead: score offline cards on the held-out texts (default: "
                            "tests/quality/heldout) for key-fact recall, flaws, distractors")
    bench.add_argument("--wire", action="store_true",
                       help="instead: time a job row's way to its JSON (no database)")
    bench.add_argument("--max-cards", type=int, default=20,
                       help="with --quality: cards asked of each text")
    bench.add_argument("--show-cards", action="store_true",
                       help="with --quality: print every card with its flags")
    bench.add_argument("--sse", type=int, metavar="STREAMS",
                       help="instead: hold this many SSE streams of one user (e.g. 5000): "
                            "memory per stream, change-to-delivery p50/p99")
    bench.add_argument("--http", action="store_true",
                       help="instead (or with --sse): GET /api/jobs/{id} and POST /api/jobs "
                            "req/s beside aiohttp hello-world, with wrk")
    bench.add_argument("--seconds", type=float, default=5.0,
                       help="with --http: seconds per load run")
    bench.add_argument("--peer", choices=["pgqueuer"],
                       help="the queue beside this peer in one run and one database: drain "
                            "and idle pickup as ratios (pip install 'cardforge[bench]')")
    bench.add_argument("--inflight", action="store_true",
                       help="instead (or with --peer, where it is on): N jobs with a fake LLM "
                            "of fixed latency, calls in flight and jobs/s; event-loop lag "
                            "while offline jobs work on 100k-character texts")
    bench.add_argument("--inflight-jobs", type=int, default=1000,
                       help="with --inflight: jobs, and workers (default 1000)")
    bench.add_argument("--llm-latency", type=float, default=2.0,
                       help="with --inflight: the fake LLM's seconds per call (default 2)")
    bench.add_argument("--all", action="store_true", dest="all_figures",
                       help="with --peer: also --sse (5000 unless given) and --http")
    bench.add_argument("--json", metavar="FILE", dest="json_file",
                       help="also write the figures as JSON to FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("INFO")
    try:
        overrides: dict[str, Any] = {}
        if args.command == "serve" and args.workers is not None:
            overrides["workers"] = args.workers
        settings = load_settings(**overrides)
    except SettingsError as err:
        print(f"cardforge: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        return serve(settings, host=args.host, port=args.port, demo=args.demo)
    if args.command == "migrate" and args.status:
        return asyncio.run(_with_database(settings, _migrate_status, migrate=False))
    if args.command == "migrate":
        return asyncio.run(_with_database(settings, _migrate_report, migrate=False))
    if args.command == "user":
        return asyncio.run(_with_database(settings, _user_create(args.name, args.json)))
    if args.command == "bench" and args.quality is not None:
        from server.bench.quality import quality_benchmark

        return asyncio.run(quality_benchmark(
            args.quality or None, max_cards=args.max_cards, show_cards=args.show_cards
        ))
    if args.command == "bench" and args.wire:
        from server.bench.wire import wire_speed

        return wire_speed()
    if args.command == "bench" and args.offline:
        from server.bench.offline import offline_generation_speed

        return asyncio.run(
            offline_generation_speed(args.offline, chars=args.chars, repeat=max(args.repeat, 5))
        )
    if args.command == "bench" and (args.peer or args.inflight):
        # the bench works in scratch databases of its own: the configured one is not migrated
        return asyncio.run(_with_database(settings, _throughput_bench(args), migrate=False))
    if args.command == "bench" and (args.sse or args.http):
        return asyncio.run(_with_database(settings, _edge_bench(args)))
    if args.command == "bench":
        from server.bench.queue import run_bench

        return asyncio.run(
            _with_database(settings, run_bench(args.jobs, args.workers or [4, 16],
                                                args.latency_samples, args.repeat))
        )
    return 2  # pragma: no cover - argparse enforces the choices


def _edge_bench(args: argparse.Namespace) -> Callable[[str], Awaitable[int]]:
    """The HTTP edge's benchmarks (server.bench.sse, server.bench.http) in one run."""

    async def action(dsn: str) -> int:
        from server.bench.http import WrkMissing, http_bench, print_http
        from server.bench.sse import print_sse, sse_bench

        figures: dict[str, Any] = {}
        print("cardforge bench (HTTP edge):", flush=True)
        if args.sse:
            figures["sse"] = await sse_bench(dsn, args.sse)
            print_sse(figures["sse"])
        if args.http:
            try:
                figures["http"] = await http_bench(dsn, args.seconds)
            except WrkMissing as err:
                print(f"cardforge: {err}", file=sys.stderr)
                return 2
            print_http(figures["http"])
        if args.json_file:
            with open(args.json_file, "w", encoding="utf-8") as out:
                json.dump(figures, out, indent=2)
        return 0

    return action


def _throughput_bench(args: argparse.Namespace) -> Callable[[str], Awaitable[int]]:
    """Issue 10's figures in one run: the queue beside its peer, calls in flight, event-loop
    lag (and with --all the HTTP edge's), then one table of them all against the targets."""

    async def action(dsn: str) -> int:
        from server.bench.http import WrkMissing, http_bench, print_http
        from server.bench.inflight import inflight_runs, print_inflight
        from server.bench.loop_lag import loop_lag_bench, print_loop_lag
        from server.bench.peer import PeerMissing, peer_bench, print_peer
        from server.bench.report import print_summary
        from server.bench.sse import print_sse, sse_bench

        figures: dict[str, Any] = {}
        print(f"cardforge bench{' --peer ' + args.peer if args.peer else ''}"
              f"{' --all' if args.all_figures else ''}:", flush=True)
        if args.all_figures or args.sse:
            # first: its memory figure is this process's growth, which the other benches'
            # freed (and reusable) memory would hide
            figures["sse"] = await sse_bench(dsn, args.sse or 5000)
            print_sse(figures["sse"])
        if args.peer:
            try:
                figures["queue"] = await peer_bench(
                    dsn, peer=args.peer, jobs=args.jobs, workers=(args.workers or [64])[0],
                    samples=args.latency_samples, repeat=args.repeat,
                )
            except (PeerMissing, ValueError) as err:
                print(f"cardforge: {err}", file=sys.stderr)
                return 2
            print_peer(figures["queue"])
        figures["inflight"] = await inflight_runs(dsn, args.inflight_jobs, args.llm_latency,
                                                  args.repeat)
        print_inflight(figures["inflight"])
        figures["loop_lag"] = await loop_lag_bench(dsn)
        print_loop_lag(figures["loop_lag"])
        if args.all_figures or args.http:
            try:
                figures["http"] = await http_bench(dsn, args.seconds)
                print_http(figures["http"])
            except WrkMissing as err:
                print(f"  HTTP: skipped ({err})", flush=True)
        print_summary(figures)
        if args.json_file:
            with open(args.json_file, "w", encoding="utf-8") as out:
                json.dump(figures, out, indent=2)
        return 0

    return action


def serve(settings: Settings, *, host: str, port: int, demo: bool) -> int:
    from server.app import create_app
    from server.http.access_log import AccessLogger
    from server.keys import POOL

    app = create_app(settings)
    if demo:
        async def print_demo_link(app: web.Application) -> None:
            from server.store.users import demo_login_token

            _user, token = await demo_login_token(app[POOL])
            shown_host = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
            print(f"\nOpen http://{shown_host}:{port}/login?token={token} to sign in "
                  "as the demo user.\n", flush=True)

        app.on_startup.append(print_demo_link)
    web.run_app(
        app, host=host, port=port, handler_cancellation=True,
        access_log_class=AccessLogger,
        shutdown_timeout=settings.shutdown_grace_seconds + 5,
        # one log line instead of aiohttp's banner, which is not JSON
        print=lambda _banner: log.info("listening on http://%s:%d", host, port),
    )
    log.info("shutdown complete")
    return 0


async def _with_database(
    settings: Settings, action: Callable[[str], Awaitable[int]], *, migrate: bool = True
) -> int:
    dsn, stop = await resolve_database_url(settings.database_url, settings.data_dir)
    try:
        if migrate:
            conn = await connect(dsn)
            try:
                await apply_schema(conn)
            finally:
                await conn.close()
        return await action(dsn)
    except MigrationError as err:
        print(f"cardforge: {err}", file=sys.stderr)
        return 1
    finally:
        if stop is not None:
            stop()


async def _migrate_report(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        applied = await apply_schema(conn)
    finally:
        await conn.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.label}", flush=True)
    else:
        print("schema up to date: nothing to apply", flush=True)
    return 0


async def _migrate_status(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        states = await migration_status(conn)
    finally:
        await conn.close()
    for state in states:
        if state.applied_at is None:
            shown = "pending"
        else:
            shown = f"applied {state.applied_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        note = "" if state.known else "  (not shipped with this release)"
        print(f"{state.version:04d}  {state.name:<32}  {shown}{note}", flush=True)
    pending = sum(1 for s in states if s.applied_at is None)
    print(f"{pending} pending" if pending else "schema up to date", flush=True)
    return 0


def _user_create(name: str, as_json: bool) -> Callable[[str], Awaitable[int]]:
    async def action(dsn: str) -> int:
        from server.store.users import create_user

        name_clean = name.strip()
        if not 1 <= len(name_clean) <= 100:
            print("cardforge: a user name is 1 to 100 characters", file=sys.stderr)
            return 2
        pool = await create_pool(dsn, max_size=1)
        try:
            user, token = await create_user(pool, name_clean)
        finally:
            await pool.close()
        if as_json:
            print(json.dumps({"id": str(user.id), "name": user.name, "token": token}))
        else:
            print(f"created user {user.name} ({user.id}); API token (shown once):")
            print(token, flush=True)
        return 0

    return action


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
