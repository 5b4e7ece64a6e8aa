"""Synthetic traffic to Kafka: a bounded run (`pulse produce`, tests, benchmarks) or live until stopped (the demo)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

from pulse.settings import Settings
from pulse.sources.kafka_producer import Outgoing, send
from pulse.traffic.generator import TrafficGenerator, encode


def produce_synthetic(
    settings: Settings,
    count: int,
    rate: float | None,
    seed: int,
    progress: bool = True,
    *,
    start: datetime | None = None,
) -> int:
    """Send `count` synthetic events (keyed by device id); return how many were sent.

    Events are stamped with the wall clock as they are made, unless `start` is given: then they
    follow a simulated diurnal time line from `start` (see `TrafficGenerator`). `rate` limits the
    events per second (None: as fast as Kafka takes them).
    """
    generator = TrafficGenerator(seed=seed, start=start, realtime=start is None)

    def messages() -> Iterator[Outgoing]:
        for event in generator.events(count):
            yield event["device_id"].encode(), encode(event), 1

    return send(settings, messages(), rate, progress=progress, description=f"synthetic → {settings.topic}",
                total=count)


def produce_forever(settings: Settings, rate: float, seed: int, stop_event: threading.Event) -> int:
    """Send live synthetic traffic at `rate` events/s until `stop_event` is set; return the count."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    generator = TrafficGenerator(seed=seed, realtime=True)

    def messages() -> Iterator[Outgoing]:
        while True:
            event = generator.next_event()
            yield event["device_id"].encode(), encode(event), 1

    return send(settings, messages(), rate, stop_event=stop_event)
