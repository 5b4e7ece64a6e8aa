"""Adaptive micro-batches: closed at once when the committer is free, grown while it commits, bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pulse.engines.batching import BatchPolicy, collect_batch


class FakeTopic:
    """Messages (their numbers) arriving at given times on a simulated clock; poll and consume wait like librdkafka's:
    poll returns at the first arrival, consume at `num_messages` or at the timeout."""

    def __init__(self, arrivals: list[float]) -> None:
        self.arrivals = sorted(arrivals)
        self.next = 0
        self.now = 0.0
        self.calls: list[tuple[str, float]] = []

    def clock(self) -> float:
        return self.now

    def poll(self, timeout: float) -> int | None:
        self.calls.append(("poll", timeout))
        if self.next < len(self.arrivals) and self.arrivals[self.next] <= self.now + timeout:
            self.now = max(self.now, self.arrivals[self.next])
            self.next += 1
            return self.next - 1
        self.now += timeout
        return None

    def consume(self, num_messages: int, timeout: float) -> list[int]:
        self.calls.append(("consume", timeout))
        deadline, taken = self.now + timeout, []
        while len(taken) < num_messages and self.next < len(self.arrivals) and self.arrivals[self.next] <= deadline:
            taken.append(self.next)
            self.next += 1
        if len(taken) == num_messages:
            self.now = max(self.now, self.arrivals[self.next - 1])
        else:
            self.now = deadline
        return taken


def busy_until(topic: FakeTopic, t: float) -> Callable[[], bool]:
    return lambda: topic.now < t


POLICY = BatchPolicy(max_events=100, max_wait_s=0.2, slice_s=0.01)


def test_an_idle_committer_takes_what_has_arrived_without_waiting_for_more() -> None:
    topic = FakeTopic([0.0, 0.0, 0.0, 0.05, 0.06])
    assert collect_batch(topic, POLICY, lambda: False, topic.clock) == [0, 1, 2]
    assert topic.now == 0.0  # no wait beyond the first message
    assert topic.calls == [("poll", 0.2), ("consume", 0.0)]


def test_a_busy_committer_lets_the_batch_grow_until_it_is_free() -> None:
    topic = FakeTopic([i * 0.001 for i in range(80)])  # 1,000 events/s
    batch = collect_batch(topic, POLICY, busy_until(topic, 0.035), topic.clock)
    assert batch == list(range(len(batch)))  # in order, none skipped
    # free at 35 ms; noticed within one 10 ms slice
    assert 36 <= len(batch) <= 46 and 0.035 <= topic.now <= 0.045


def test_a_batch_never_grows_past_max_events() -> None:
    topic = FakeTopic([0.0] * 250)
    assert collect_batch(topic, POLICY, lambda: True, topic.clock) == list(range(100))
    assert collect_batch(topic, POLICY, lambda: True, topic.clock) == list(range(100, 200))


def test_a_batch_closes_max_wait_after_its_first_message_even_while_the_committer_is_busy() -> None:
    topic = FakeTopic([0.1 + i * 0.01 for i in range(60)])
    batch = collect_batch(topic, POLICY, lambda: True, topic.clock)
    assert topic.now == pytest.approx(0.3)
    assert batch == list(range(21))  # arrivals at 0.10 .. 0.30
    assert all(timeout <= 0.01 + 1e-9 for kind, timeout in topic.calls if kind == "consume")


def test_nothing_within_max_wait_is_an_empty_batch() -> None:
    topic = FakeTopic([1.0])
    assert collect_batch(topic, POLICY, lambda: False, topic.clock) == []
    assert topic.now == pytest.approx(0.2)


def test_a_batch_of_one_takes_no_second_poll() -> None:
    topic = FakeTopic([0.0, 0.0])
    assert collect_batch(topic, BatchPolicy(max_events=1, max_wait_s=0.2), lambda: True, topic.clock) == [0]
    assert topic.calls == [("poll", 0.2)]


@pytest.mark.parametrize(("collected", "age", "busy", "closes"), [
    (0, 5.0, False, False), (1, 0.0, False, True), (1, 0.0, True, False), (99, 0.19, True, False),
    (100, 0.0, True, True), (5, 0.2, True, True),
])
def test_should_close(collected: int, age: float, busy: bool, closes: bool) -> None:
    assert POLICY.should_close(collected, age, busy) is closes


def test_the_next_wait_is_one_slice_never_past_the_deadline() -> None:
    assert POLICY.next_wait_s(0.0) == 0.01
    assert POLICY.next_wait_s(0.195) == pytest.approx(0.005)
    assert POLICY.next_wait_s(0.3) == 0.0
