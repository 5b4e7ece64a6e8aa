"""Adaptive micro-batches: close a batch as soon as the committer is free, grow it while a commit is in flight.

A fixed wait (poll 200 ms, then commit) puts the whole wait on every event's freshness. Here the first message
of a batch is awaited for up to `max_wait_s`, then what the client has already fetched joins it, then:
- the committer is idle: the batch closes at once (small batches, low latency at low rates);
- a commit is in flight: the batch keeps growing in short polls (`slice_s`) up to `max_events`, and closes
  within a slice of the committer becoming free (batch size follows rate x commit time);
- in any case the batch closes `max_wait_s` after its first message (PULSE_BATCH_MAX_WAIT_MS stays the bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)

SLICE_S = 0.01  # one short poll while the batch grows: short enough for freshness, long enough to fetch


class MessageSource(Protocol[M_co]):
    """What the batcher needs from a Kafka consumer (confluent_kafka's Consumer has both)."""

    def poll(self, timeout: float) -> M_co | None:
        """The next message, or None after `timeout` seconds."""
        ...

    def consume(self, num_messages: int, timeout: float) -> Sequence[M_co]:
        """Up to `num_messages`, waiting at most `timeout` seconds."""
        ...


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """When a micro-batch closes: full, old enough, or the committer is free to take it."""

    max_events: int
    max_wait_s: float
    slice_s: float = SLICE_S

    def next_wait_s(self, age_s: float) -> float:
        """How long the next poll of a started batch may wait: one slice, never past the batch's deadline."""
        return max(0.0, min(self.slice_s, self.max_wait_s - age_s))

    def should_close(self, collected: int, age_s: float, committer_busy: bool) -> bool:
        """True when a batch of `collected` messages, `age_s` after its first one, should go to the committer."""
        if collected == 0:
            return False
        return collected >= self.max_events or age_s >= self.max_wait_s or not committer_busy


def collect_batch(
    source: MessageSource[M], policy: BatchPolicy, committer_busy: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
) -> list[M]:
    """One micro-batch from `source` ([] when nothing came within `max_wait_s`); error messages included."""
    first = source.poll(policy.max_wait_s)
    if first is None:
        return []
    opened = clock()
    batch = [first]
    wait = 0.0  # first what the client has already fetched, then slices
    while len(batch) < policy.max_events:
        batch += source.consume(num_messages=policy.max_events - len(batch), timeout=wait)
        age = clock() - opened
        if policy.should_close(len(batch), age, committer_busy()):
            break
        wait = policy.next_wait_s(age)
    return batch
