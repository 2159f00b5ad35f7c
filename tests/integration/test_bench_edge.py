"""The HTTP edge's benchmarks run end to end on a real server (figures are not asserted:
performance is measured by `cardforge bench`, never by a timed test)."""

from __future__ import annotations

import shutil

import pytest

from server.bench.http import http_bench
from server.bench.sse import sse_bench


async def test_the_sse_bench_delivers_every_change_to_every_stream(pg_server_dsn: str) -> None:
    result = await sse_bench(pg_server_dsn, 20, rounds=2)
    assert result["subscribers"] == 20 and result["rounds"] == 2
    assert result["delivery_p99_ms"] >= result["delivery_p50_ms"] > 0
    assert result["rss_per_subscriber_kb"] > 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
async def test_the_http_bench_gets_only_2xx_answers(pg_server_dsn: str) -> None:
    result = await http_bench(pg_server_dsn, seconds=1)
    assert result["get_job_non_2xx"] == 0 and result["post_job_non_2xx"] == 0
    assert result["hello_world_rps"] > 0 and result["get_job_rps"] > 0
