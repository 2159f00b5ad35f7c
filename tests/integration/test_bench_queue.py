"""The queue benchmark runs end to end beside its peer on a real server (figures are not
asserted: performance is measured by `cardforge bench`, never by a timed test)."""

from __future__ import annotations

import pytest

from server.bench.inflight import inflight_bench
from server.bench.loop_lag import loop_lag_bench
from server.bench.peer import peer_bench
from server.bench.report import summary_rows


async def test_the_peer_bench_drains_and_picks_up_on_both_queues(pg_server_dsn: str) -> None:
    pytest.importorskip("pgqueuer")
    result = await peer_bench(pg_server_dsn, peer="pgqueuer", jobs=50, workers=20, samples=4,
                              repeat=2)
    assert (result["peer"], result["jobs"], result["workers"]) == ("pgqueuer", 50, 20)
    drain, pickup = result["drain"], result["pickup"]
    assert len(drain["cardforge_runs"]) == len(drain["peer_runs"]) == 2
    assert drain["cardforge_jobs_per_s"] > 0 and drain["peer_jobs_per_s"] > 0
    assert drain["ratio_of_medians"] == drain["cardforge_jobs_per_s"] / drain["peer_jobs_per_s"]
    assert drain["ratio"] > 0
    assert pickup["samples"] == 4
    for name in ("cardforge", "peer"):
        assert pickup[f"{name}_p99_ms"] >= pickup[f"{name}_p50_ms"] >= 0


async def test_the_inflight_bench_completes_every_job_through_the_fake_llm(
    pg_server_dsn: str,
) -> None:
    result = await inflight_bench(pg_server_dsn, jobs=20, latency_s=0.2)
    assert (result["jobs"], result["completed"], result["not_completed"]) == (20, 20, 0)
    assert result["llm_calls"] == 20 and result["cards"] == 20
    assert 1 <= result["max_llm_calls_in_flight"] <= 20
    assert result["pool_connections"] <= 20 and result["fraction_of_ideal"] > 0


async def test_the_loop_lag_bench_samples_the_loop_while_offline_jobs_run(
    pg_server_dsn: str,
) -> None:
    result = await loop_lag_bench(pg_server_dsn, jobs=1, workers=1)
    assert result["completed"] == 1 and result["samples"] > 0
    assert result["lag_max_ms"] >= result["lag_p99_ms"] >= result["lag_p50_ms"] >= 0


def test_the_summary_puts_every_figure_beside_its_target() -> None:
    figures = {
        "inflight": {"jobs": 1000, "latency_s": 2.0, "max_llm_calls_in_flight": 1000,
                     "pool_connections": 16, "jobs_per_s": 300.0, "fraction_of_ideal": 0.6},
        "loop_lag": {"chars": 100_000, "lag_p99_ms": 25.0, "lag_max_ms": 40.0},
    }
    rows = summary_rows(figures)
    assert [met for *_, met in rows] == [True, True, False]
    assert all(target for _, _, target, _ in rows)
