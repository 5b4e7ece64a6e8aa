"""Running totals of an engine process, shared by the native and the Spark engines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class EngineStats:
    """Running totals of one engine process."""

    batches: int = 0
    messages: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)
    last_batch_latency_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values for logs and JSON."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "batches": self.batches, "messages": self.messages, "loaded": self.loaded,
            "duplicates": self.duplicates, "quarantined": self.quarantined, "retries": self.retries,
            "events_per_s": round(self.messages / elapsed, 1),
        }
