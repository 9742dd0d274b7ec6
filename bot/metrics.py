"""Prometheus metrics of the bot process, in their own registry (served at /metrics)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "twin_requests",
            "Chat commands handled, by command.",
            ["command"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "twin_request_seconds",
            "Time to handle a chat command (drafts: until the last token).",
            ["command"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "twin_generation_queue_depth",
            "Generations waiting for a model slot.",
            registry=self.registry,
        )
        self.generating = Gauge(
            "twin_generations_active", "Generations running now.", registry=self.registry
        )
        self.tokens_per_second = Gauge(
            "twin_last_tokens_per_second",
            "Decoding speed of the last finished draft.",
            registry=self.registry,
        )
        self.tokens = Counter(
            "twin_generated_tokens", "Completion tokens of all drafts.", registry=self.registry
        )

    def observe(self, command: str, seconds: float) -> None:
        self.requests.labels(command).inc()
        self.latency.labels(command).observe(seconds)

    def watch_worker(self, queued: Callable[[], int], active: Callable[[], int]) -> None:
        self.queue_depth.set_function(lambda: float(queued()))
        self.generating.set_function(lambda: float(active()))

    def draft_finished(self, completion_tokens: float, tokens_per_second: float) -> None:
        self.tokens.inc(completion_tokens)
        self.tokens_per_second.set(tokens_per_second)

    def render(self) -> bytes:
        return generate_latest(self.registry)
