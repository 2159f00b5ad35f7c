"""One table of issue 10's figures from one run of ``cardforge bench --peer pgqueuer``, each
beside its target. Ratios and fractions come from the same run, so they hold on a noisy
machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str, str, bool]


def _queue_rows(q: dict[str, Any]) -> list[Row]:
    d, p = q["drain"], q["pickup"]
    peer = q["peer"]
    return [
        (f"drain, {q['jobs']:,} no-op jobs, {q['workers']} workers",
         f"{d['cardforge_jobs_per_s']:,.0f} vs {d['peer_jobs_per_s']:,.0f} jobs/s = "
         f"{d['ratio']:.2f}x", f">= 1.0x {peer}", d["ratio"] >= 1.0),
        ("idle pickup p50, commit -> handler",
         f"{p['cardforge_p50_ms']:.2f} vs {p['peer_p50_ms']:.2f} ms = {p['p50_ratio']:.2f}x",
         f"<= {peer}", p["p50_ratio"] <= 1.0),
        ("idle pickup p99, commit -> handler",
         f"{p['cardforge_p99_ms']:.2f} vs {p['peer_p99_ms']:.2f} ms = {p['p99_ratio']:.2f}x",
         f"<= {peer}", p["p99_ratio"] <= 1.0),
    ]


def _inflight_rows(i: dict[str, Any]) -> list[Row]:
    return [
        (f"LLM calls in flight ({i['jobs']} jobs, fake {i['latency_s']:g} s)",
         f"{i['max_llm_calls_in_flight']} at once, DB pool {i['pool_connections']}",
         f"{i['jobs']}, pool <= 20",
         i["max_llm_calls_in_flight"] >= i["jobs"] and i["pool_connections"] <= 20),
        ("jobs/s as a fraction of N/latency",
         f"{i['jobs_per_s']:.0f} jobs/s = {i['fraction_of_ideal'] * 100:.0f} %", ">= 50 %",
         i["fraction_of_ideal"] >= 0.5),
    ]


def _lag_rows(lag: dict[str, Any]) -> list[Row]:
    return [(f"event-loop lag p99, offline jobs on {lag['chars']:,} chars",
             f"{lag['lag_p99_ms']:.1f} ms (max {lag['lag_max_ms']:.1f})", "<= 20 ms",
             lag["lag_p99_ms"] <= 20)]


def _sse_rows(s: dict[str, Any]) -> list[Row]:
    return [
        (f"SSE change -> delivered p99, {s['subscribers']:,} streams of one user",
         f"{s['delivery_p99_ms']:.0f} ms", "<= 100 ms", s["delivery_p99_ms"] <= 100),
        ("SSE memory per stream", f"{s['rss_per_subscriber_kb']:.1f} KB", "<= 20 KB",
         s["rss_per_subscriber_kb"] <= 20),
    ]


def _http_rows(h: dict[str, Any]) -> list[Row]:
    return [
        ("GET /api/jobs/{id} vs hello-world", f"{h['get_job_ratio'] * 100:.1f} %", ">= 25 %",
         h["get_job_ratio"] >= 0.25),
        ("POST /api/jobs vs hello-world", f"{h['post_job_ratio'] * 100:.1f} %", ">= 10 %",
         h["post_job_ratio"] >= 0.10),
    ]


SECTIONS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "queue": _queue_rows, "inflight": _inflight_rows, "loop_lag": _lag_rows,
    "sse": _sse_rows, "http": _http_rows,
}


def summary_rows(figures: dict[str, Any]) -> list[Row]:
    return [row for name, rows in SECTIONS.items() if name in figures
            for row in rows(figures[name])]


def print_summary(figures: dict[str, Any]) -> None:
    rows = summary_rows(figures)
    widths = [max(len(r[0]) for r in rows), max(len(r[1]) for r in rows),
              max(len(r[2]) for r in rows)]
    print("\n  issue 10, one run:", flush=True)
    header = ("figure", "measured", "target")
    print("    " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  met")
    for figure, measured, target, met in rows:
        cells = (figure, measured, target)
        print("    " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
              + ("  yes" if met else "  no"), flush=True)
