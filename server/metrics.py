"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from handlers.context import Usage


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs_enqueued = Counter(
            "cardforge_jobs_enqueued_total", "Jobs created", ["type"], registry=self.registry
        )
        self.jobs_rate_limited = Counter(
            "cardforge_jobs_rate_limited_total", "Job creations refused by the rate limit",
            ["type"], registry=self.registry,
        )
        self.job_outcomes = Counter(
            "cardforge_job_outcomes_total",
            "Attempts finished by a worker, by outcome (completed, retried, failed, cancelled, "
            "released, lost)",
            ["type", "outcome"], registry=self.registry,
        )
        self.job_run_seconds = Histogram(
            "cardforge_job_run_seconds", "Handler run time per attempt", ["type"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.claims = Counter(
            "cardforge_claims_total", "Claim statements this process's claimer issued",
            registry=self.registry,
        )
        self.jobs_reaped = Counter(
            "cardforge_jobs_reaped_total", "Expired leases recovered by the reaper",
            registry=self.registry,
        )
        self.jobs_in_flight = Gauge(
            "cardforge_jobs_in_flight", "Jobs this process is running", registry=self.registry
        )
        self.llm_calls_in_flight = Gauge(
            "cardforge_llm_calls_in_flight", "LLM calls this process has open",
            registry=self.registry,
        )
        self.llm_concurrency_limit = Gauge(
            "cardforge_llm_concurrency_limit",
            "The adaptive limit on concurrent LLM calls (halved on 429/529, grows on success)",
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "cardforge_sse_clients", "Open SSE streams", registry=self.registry
        )
        self.sse_dropped = Counter(
            "cardforge_sse_dropped_total", "SSE clients dropped for falling behind",
            registry=self.registry,
        )
        self.sse_feed_reads = Counter(
            "cardforge_sse_feed_reads_total",
            "Reads of changed jobs for SSE, one per change burst per user with open streams "
            "(shared by all of that user's streams in this process)",
            registry=self.registry,
        )
        self.sse_refused = Counter(
            "cardforge_sse_refused_total", "SSE streams refused: the user had too many open",
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "cardforge_llm_tokens_total",
            "LLM tokens spent by model and kind (input, output, cache_read, cache_write)",
            ["model", "kind"], registry=self.registry,
        )
        self.llm_cost_usd = Counter(
            "cardforge_llm_cost_usd_total",
            "What the LLM calls cost by model, in US dollars, from the price table",
            ["model"], registry=self.registry,
        )
        self.listener_reconnects = Counter(
            "cardforge_listener_reconnects_total", "LISTEN connection re-establishments",
            registry=self.registry,
        )

    def record_usage(self, usage: Usage) -> None:
        """One attempt's tokens and cost (every attempt's tokens were billed)."""
        kinds = {
            "input": usage.input_tokens, "output": usage.output_tokens,
            "cache_read": usage.cache_read_tokens, "cache_write": usage.cache_write_tokens,
        }
        for kind, tokens in kinds.items():
            if tokens:
                self.llm_tokens.labels(usage.model, kind).inc(tokens)
        cost = usage.cost_usd
        if cost:
            self.llm_cost_usd.labels(usage.model).inc(cost)
