"""Prometheus metrics of the collector, in a registry of its own (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class CollectorMetrics:
    """Requests by route and status, events accepted/rejected by reason, Kafka acknowledgement latency."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.requests = Counter(
            "pulse_collect_requests", "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"), registry=self.registry,
        )
        self.events = Counter(
            "pulse_collect_events", "Events accepted (acknowledged by Kafka) or rejected, by reason.",
            ("outcome", "reason"), registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "pulse_collect_produce_seconds", "From produce to Kafka's acknowledgement of a request's events.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pulse_collect_request_seconds", "Time to answer a /collect request.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def accepted(self, count: int) -> None:
        """Count events Kafka acknowledged."""
        self.events.labels("accepted", "").inc(count)

    def rejected(self, reason: str, count: int = 1) -> None:
        """Count events (or requests, when the body could not be read) refused, by reason code."""
        self.events.labels("rejected", reason).inc(count)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
