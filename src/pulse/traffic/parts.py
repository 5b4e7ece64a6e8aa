"""The traffic generator's small parts: weighted tables, visitors, event specs, ids and prices."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from pulse.traffic.data import (
    NO_UTM,
    PRICE_STYLES,
)

T = TypeVar("T")
Fields = dict[str, Any]

_BIT_128 = 1 << 128
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class WeightedTable(Generic[T]):
    """Weighted choice by one uniform draw and a binary search (cheaper than Random.choices)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, rows: Iterable[tuple[T, float]]) -> None:
        pairs = list(rows)
        self.items = [item for item, _ in pairs]
        self.cum = list(itertools.accumulate(weight for _, weight in pairs))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


@dataclass(slots=True)
class Visitor:
    """One browser: who it is, and the page it has open."""

    device_id: str
    ip: str
    user_agent: str
    resolution: str
    sf: int  # index into STOREFRONTS
    base: str  # "https://<host>/"
    store_id: str
    email: str = ""
    user_id_db: str = ""
    clock_style: int = 0  # 0 padded, 1 unpadded hour, 2 unpadded month, day and hour
    skew: int = 0  # seconds between the browser clock and the storefront's zone
    last_seen: float = 0.0
    url: str = ""
    page: str = ""
    page_referrer: str = ""
    utm: tuple[str | bool, str | bool] = NO_UTM
    product: int = -1  # index into the generator's products
    cart: list[Fields] | None = None
    bot: bool = False


class Spec(NamedTuple):
    """How to make one collection: its page, and the method adding its own fields."""

    collection: str
    page: str
    loads_page: bool
    fresh_product: bool  # a product view: draw the product anew
    clicked: bool
    add_fields: Callable[[Fields, Visitor, Spec, int], None]


class Clock(NamedTuple):
    """What holds for one UTC hour: event rate, where shoppers are awake, each zone's UTC offset."""

    hour: int
    rate: float  # events per second
    storefronts: WeightedTable[int]
    offsets: tuple[int, ...]


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID from the generator's own random stream."""
    h = hex(rng.getrandbits(128) | _BIT_128)[3:]  # 32 hex digits, zero-padded
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def option_entry(label: str, option_id: int, value_id: int, value_label: str, roll: int) -> Fields:
    """One entry of a product `option` array; `roll` (0-15) picks the tracker's variant."""
    if roll < 2:  # numbers, as some tracker versions send them
        return {"option_label": label, "option_id": option_id, "value_label": value_label,
                "value_id": value_id}
    if roll < 3:  # an option shown before the shopper picked a value
        return {"option_label": label, "option_id": "", "value_label": "", "value_id": ""}
    return {"option_label": label, "option_id": str(option_id), "value_label": value_label,
            "value_id": str(value_id)}


def format_price(amount: float, style: str) -> str:
    """Format a price as the storefront shows it: "4.990,00", "1,880.00", "1'234.50", "1.234"."""
    thousands, decimal = PRICE_STYLES[style]
    if decimal is None:
        return f"{round(amount):,}".replace(",", thousands)
    return f"{amount:,.2f}".replace(",", "\0").replace(".", decimal).replace("\0", thousands)
