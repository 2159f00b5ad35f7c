"""The queue benchmark runs end to end beside its peer on a real server (figures are not
asserted: performance is measured by `cardforge bench`, never by a timed test)."""

from __future__ import annotations

import pytest

from server.bench.peer import peer_bench


async def test_the_peer_bench_drains_and_picks_up_on_both_queues(pg_server_dsn: str) -> None:
    pytest.importorskip("pgqueuer")
    result = await peer_bench(pg_server_dsn, peer="pgqueuer", jobs=50, workers=20, samples=4,
                              repeat=2)
    assert (result["peer"], result["jobs"], result["workers"]) == ("pgqueuer", 50, 20)
    drain, pickup = result["drain"], result["pickup"]
    assert len(drain["cardforge_runs"]) == len(drain["peer_runs"]) == 2
    assert drain["cardforge_jobs_per_s"] > 0 and drain["peer_jobs_per_s"] > 0
    assert drain["ratio"] == drain["cardforge_jobs_per_s"] / drain["peer_jobs_per_s"]
    assert pickup["samples"] == 4
    for name in ("cardforge", "peer"):
        assert pickup[f"{name}_p99_ms"] >= pickup[f"{name}_p50_ms"] >= 0
