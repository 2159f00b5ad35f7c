"""``cardforge bench --http``: request rates of the API beside aiohttp's hello-world.

The real app (auth, middlewares, pool, queries) and a one-route hello-world app are served
from this process's event loop on loopback ports, and wrk (``apt-get install wrk``; a C
load generator, so the client is not what limits the figure) drives each in turn for the
same seconds with the same connections. The figures are ratios to hello-world from one run,
so they hold on a noisy machine:

* ``GET /api/jobs/{id}``: one user reading one job;
* ``POST /api/jobs``: 64 users creating flashcard jobs (rate limit lifted for the run).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from server.bench.harness import bench_app, scratch_database, serve_on_loopback
from server.keys import POOL, QUEUE
from server.store.users import create_user

CONNECTIONS = 64
USERS = 64
THREADS = 2
BODY = '{"type":"flashcard_generation","payload":{"content":"Photosynthesis makes sugar."}}'

POST_SCRIPT = """
local tokens = {%s}
local body = '%s'
local counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  return wrk.format("POST", "/api/jobs", {["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json"}, body)
end
"""


class WrkMissing(RuntimeError):
    pass


def hello_world_app() -> web.Application:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


async def _wrk(url: str, seconds: float, *extra: str) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkMissing("wrk is not installed (apt-get install wrk)")
    proc = await asyncio.create_subprocess_exec(
        wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
        *extra, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output = (await proc.communicate())[0].decode()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if proc.returncode != 0 or rate is None:
        raise RuntimeError(f"wrk failed: {output[-500:]}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": float(rate.group(1)),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


async def http_bench(dsn: str, seconds: float = 5.0) -> dict[str, Any]:
    async with scratch_database(dsn) as bench_dsn:
        app = bench_app(bench_dsn)
        async with serve_on_loopback(app) as port, serve_on_loopback(hello_world_app()) as hello:
            pool = app[POOL]
            users = [await create_user(pool, f"bench{i}") for i in range(USERS)]
            (reader, token) = users[0]
            job = (await app[QUEUE].enqueue(reader.id, "flashcard_generation",
                                            {"content": "Photosynthesis makes sugar."})).job
            base = f"http://127.0.0.1:{port}"
            hello_world = await _wrk(f"http://127.0.0.1:{hello}/", seconds)
            get = await _wrk(f"{base}/api/jobs/{job.id}", seconds,
                             "-H", f"Authorization: Bearer {token}")
            with tempfile.TemporaryDirectory() as tmp:
                script = Path(tmp) / "post.lua"
                script.write_text(POST_SCRIPT % (
                    ", ".join(f'"{t}"' for _, t in users), BODY))
                post = await _wrk(f"{base}/api/jobs", seconds, "-s", str(script))
    return {
        "hello_world_rps": hello_world["rps"],
        "get_job_rps": get["rps"],
        "get_job_ratio": get["rps"] / hello_world["rps"],
        "get_job_p99_ms": get["p99_ms"],
        "get_job_non_2xx": get["non_2xx"],
        "post_job_rps": post["rps"],
        "post_job_ratio": post["rps"] / hello_world["rps"],
        "post_job_p99_ms": post["p99_ms"],
        "post_job_non_2xx": post["non_2xx"],
        "connections": CONNECTIONS,
        "seconds": seconds,
    }


def print_http(result: dict[str, Any]) -> None:
    print(f"  HTTP, {result['connections']} connections, {result['seconds']:.0f} s each: "
          f"hello-world {result['hello_world_rps']:,.0f} req/s", flush=True)
    for name, label in (("get_job", "GET /api/jobs/{id}"), ("post_job", "POST /api/jobs")):
        print(f"    {label:<20} {result[f'{name}_rps']:8,.0f} req/s = "
              f"{result[f'{name}_ratio'] * 100:5.1f} % of hello-world, p99 "
              f"{result[f'{name}_p99_ms']:.1f} ms"
              + (f" ({result[f'{name}_non_2xx']:.0f} non-2xx!)"
                 if result[f"{name}_non_2xx"] else ""), flush=True)
