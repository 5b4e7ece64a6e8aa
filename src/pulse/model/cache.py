"""Bounded per-process caches of finished dimension keys and rows, keyed by the raw values that repeat.

A repeated user agent, IP address, page URL, referrer, product or store costs `model_event` one dict
lookup: the cache holds what the model made of it (the redacted values, the dimension keys and rows), not
parsed pieces. Each cache is bounded twice: at most `max_entries` entries (the cache is cleared when full,
which is cheaper than LRU bookkeeping on every hit), and a key longer than `max_key_chars` is never cached
(it is computed every time), so a hostile stream of long unique values cannot grow memory. Values hold only
what the warehouse stores (redacted, hashed, truncated), keyed by the raw value in memory.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A dict of at most `max_entries` entries whose keys measure at most `max_key_chars` (see the module)."""

    __slots__ = ("entries", "max_entries", "max_key_chars")

    def __init__(self, max_entries: int, max_key_chars: int) -> None:
        self.entries: dict[K, V] = {}
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars

    def put(self, key: K, size: int, value: V) -> V:
        """Keep `value` under `key` (whose text measures `size` characters) when it fits the bounds; return it."""
        if size <= self.max_key_chars:
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            self.entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self.entries)


class ModelCaches:
    """The caches of one `Enrichers` (one hash key, one privacy setting, one set of lookups).

    Bounds (entries x longest key), and the approximate worst case of each in memory:
    user agents 16,384 x 1,024 chars (~40 MB), IP addresses 32,768 x 64 (~15 MB), page URLs
    8,192 x 1,024 (~40 MB), referrers 8,192 x 1,024 (~25 MB), products 32,768 x 128 (~15 MB),
    stores 1,024 x 128, hours 4,096 (ints). Real traffic uses a small part of that.
    """

    __slots__ = ("agents", "hours", "locations", "pages", "products", "referrers", "stores")

    def __init__(self) -> None:
        self.agents: BoundedCache[str | None, tuple[Any, ...]] = BoundedCache(16_384, 1_024)
        self.locations: BoundedCache[str | None, tuple[Any, ...]] = BoundedCache(32_768, 64)
        self.pages: BoundedCache[str | None, tuple[Any, ...]] = BoundedCache(8_192, 1_024)
        self.referrers: BoundedCache[tuple[str | None, str | None, str | None], tuple[Any, ...]] = BoundedCache(
            8_192, 1_024)
        self.products: BoundedCache[str, tuple[str, int]] = BoundedCache(32_768, 128)
        self.stores: BoundedCache[str, tuple[str, int, tuple[int, str]]] = BoundedCache(1_024, 128)
        self.hours: BoundedCache[int, tuple[Any, ...]] = BoundedCache(4_096, 0)

    def __reduce__(self) -> tuple[type[ModelCaches], tuple[()]]:
        return (ModelCaches, ())  # a copy sent to another process starts empty

    def sizes(self) -> dict[str, int]:
        """Entries per cache, for metrics and the benchmark."""
        return {name: len(getattr(self, name)) for name in self.__slots__}
