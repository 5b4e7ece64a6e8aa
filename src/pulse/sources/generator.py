"""Synthetic Glamira traffic in the real event shapes (DESIGN.md §1): deterministic per seed, no I/O."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import orjson

from pulse.sources.traffic_data import (
    ACCOUNT_PAGES,
    ALLOY_BY_BITS,
    ALLOYS,
    BARE_HOST_SHARE,
    BOT_MIX,
    BOTS,
    BROWSERS,
    COLLECTION_MIX,
    DIURNAL,
    EMAIL_REFERRERS,
    GOOGLE_TLD,
    IPV6_PREFIXES,
    LANDING_PAGES,
    LANGUAGES,
    NO_UTM,
    NOISY_HOST_SHARE,
    NOISY_HOSTS,
    OTHER_REFERRERS,
    PRICE_STYLES,
    PRODUCT_NAMES,
    QUALITIES,
    REFERRER_KINDS,
    RESOLUTIONS,
    SEARCH_REFERRERS,
    SOCIAL_REFERRERS,
    STATIC_PAGES,
    STONE_BY_BITS,
    STONES,
    STOREFRONTS,
    Storefront,
)

T = TypeVar("T")
Fields = dict[str, Any]

SESSION_GAP_S = 1800  # a visitor idle this long has left; the slot goes to a new visitor

_BIT_128 = 1 << 128
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_HOURS = [f"{h:02d}" for h in range(24)]
_MINUTES_SECONDS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
# "true" 35%, "false" 45%, null 20%, indexed by 10 random bits
_SHOW_RECOMMENDATION = ["true"] * 358 + ["false"] * 461 + [None] * 205



class _Table(Generic[T]):
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
class _Visitor:
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


class _Spec(NamedTuple):
    """How to make one collection: its page, and the method adding its own fields."""

    collection: str
    page: str
    loads_page: bool
    fresh_product: bool  # a product view: draw the product anew
    clicked: bool
    add_fields: Callable[[Fields, _Visitor, _Spec, int], None]


class _Clock(NamedTuple):
    """What holds for one UTC hour: event rate, where shoppers are awake, each zone's UTC offset."""

    hour: int
    rate: float  # events per second
    storefronts: _Table[int]
    offsets: tuple[int, ...]


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID from the generator's own random stream."""
    h = hex(rng.getrandbits(128) | _BIT_128)[3:]  # 32 hex digits, zero-padded
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _option(label: str, option_id: int, value_id: int, value_label: str, roll: int) -> Fields:
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


def encode(event: Fields) -> bytes:
    """The bytes a tracker would send for `event`."""
    return orjson.dumps(event)


class TrafficGenerator:
    """Endless synthetic Glamira traffic in the real event shapes.

    Deterministic for a (seed, start). The time line begins at `start` (default: now) and advances
    at `events_per_day` on average, fewer at night in each storefront's zone; with `realtime` each
    event is instead stamped with the wall clock when it is generated (for live demos).
    """

    def __init__(
        self,
        seed: int = 0,
        start: datetime | None = None,
        products: int = 20000,
        *,
        events_per_day: float = 1_200_000,
        realtime: bool = False,
        bot_share: float = 0.025,
        active_visitors: int = 2000,
        new_visitor_share: float = 0.2,
        zipf_exponent: float = 1.1,
    ) -> None:
        if start is not None and start.utcoffset() is None:
            raise ValueError("start must be aware, for example datetime(2024, 5, 28, tzinfo=UTC)")
        if realtime and start is not None:
            raise ValueError("realtime stamps events with the wall clock: do not also give a start")
        if products < 1 or events_per_day <= 0 or active_visitors < 1 or not 0 < new_visitor_share <= 1:
            raise ValueError("products, events_per_day, active_visitors, new_visitor_share must be positive")
        self._rng = rng = random.Random(seed)
        self._realtime = realtime
        self._t = start.timestamp() if start is not None else time.time()
        self._base_rate = events_per_day / 86400 / (sum(DIURNAL) / 24)
        self._bot_cut = round(bot_share * 1024)  # out of 10 random bits
        self._cap = active_visitors
        self._new_share = new_visitor_share
        self._visitors: list[_Visitor] = []
        self._dates: dict[int, str] = {}  # (local day * 4 + clock style) -> date part of local_time
        self._term = ""
        self._order_id = rng.randrange(700_000_000, 720_000_000)
        self._machine = f"{rng.getrandbits(40):010x}"  # ObjectId: machine and process part
        self._object_count = rng.getrandbits(24)
        self._object_ts, self._object_prefix = -1, ""

        specs = {c: _Spec(c, page, load, c == "view_product_detail", c.endswith("_clicked"),
                          getattr(self, f"_add_{shape}"))
                 for c, _, shape, page, load in COLLECTION_MIX}
        self._mix = _Table((specs[c], w) for c, w, *_ in COLLECTION_MIX)
        self._bot_mix = _Table((specs[c], w) for c, w in BOT_MIX)
        self._bots = _Table(((ua, ips, res), w) for ua, w, ips, res in BOTS)
        self._browsers = _Table(((device, agents), w) for w, device, agents in BROWSERS)
        self._noisy = _Table(NOISY_HOSTS)
        self._zones = [ZoneInfo(sf.zone) for sf in STOREFRONTS]
        self._langs = [LANGUAGES.get(sf.lang, LANGUAGES["en"]) for sf in STOREFRONTS]
        self._referrers = [self._referrer_table(sf) for sf in STOREFRONTS]
        # Products: ids drawn once; popularity by rank is Zipf-Mandelbrot, (rank + 10) ** -s.
        ids = rng.sample(range(10_000, 10_000 + max(6 * products, 120_000)), products)
        self._products = [  # (id, type, URL name, price in EUR, alloy option id, stone option id)
            (pid, rng.randrange(5), rng.choice(PRODUCT_NAMES) + self._sku(rng),
             round(math.exp(rng.gauss(6.3, 0.8)), -1) + 9, 100_000 + pid * 7 % 300_000,
             400_000 + pid * 11 % 300_000)
            for pid in ids
        ]
        self._popularity = list(itertools.accumulate((r + 10) ** -zipf_exponent for r in range(products)))
        self._clock = self._clock_at(self._t)

    @staticmethod
    def _referrer_table(sf: Storefront) -> _Table[tuple[str, str]]:
        """One flat (kind, referrer) table per storefront, so a page load needs one draw."""
        google = GOOGLE_TLD.get(sf.suffix, sf.suffix)
        sources = {"search": [(url.format(g=google), w) for url, w in SEARCH_REFERRERS],
                   "paid": [(f"https://www.google.{google}/", 1)], "social": list(SOCIAL_REFERRERS),
                   "email": list(EMAIL_REFERRERS), "other": list(OTHER_REFERRERS),
                   "direct": [("", 1)], "internal": [("", 1)]}
        rows = []
        for kind, weight in REFERRER_KINDS:
            total = sum(w for _, w in sources[kind])
            rows += [((kind, url), weight * w / total) for url, w in sources[kind]]
        return _Table(rows)

    @staticmethod
    def _sku(rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.45:
            return f"-skug{rng.randrange(100_000, 999_999)}"
        return f"-sku{rng.randrange(1000, 99_999)}" if roll < 0.6 else ""

    # --- public ----------------------------------------------------------------------------------
    def events(self, count: int) -> Iterator[Fields]:
        """The next `count` events, in time order."""
        for _ in range(count):
            yield self.next_event()

    def next_event(self) -> Fields:
        """One more event; `time_stamp` never goes backwards."""
        ts, clock = self._tick()
        rng = self._rng
        bits = rng.getrandbits(50)  # five 10-bit rolls (out of 1024) for the small per-event variants
        if bits & 0x3FF < self._bot_cut:
            visitor, spec = self._new_bot(clock), self._bot_mix.pick(rng)
        else:
            mix = self._mix  # (Table.pick inlined: this is the hottest draw)
            visitor = self._visitor(clock, ts)
            spec = mix.items[bisect.bisect_right(mix.cum, rng.random() * mix.total)]
        url, referrer, product = self._locate(visitor, spec)
        # ObjectId as MongoDB makes them: seconds, a machine-and-process part, a 24-bit counter.
        if ts != self._object_ts:
            self._object_ts, self._object_prefix = ts, f"{ts:08x}{self._machine}"
        self._object_count = (self._object_count + 1) & 0xFFFFFF
        object_id = self._object_prefix + hex(self._object_count | 0x1000000)[3:]
        event: Fields = {
            "_id": object_id if bits >> 10 & 0x3FF < 717 else {"$oid": object_id},
            "id": _uuid(rng),
            "time_stamp": ts,
            "ip": visitor.ip,
            "user_agent": visitor.user_agent,
            "resolution": visitor.resolution,
            "user_id_db": visitor.user_id_db,
            "device_id": visitor.device_id,
            "api_version": "1.0",
            "store_id": visitor.store_id if bits >> 20 & 0x3FF < 768 else int(visitor.store_id),
            "local_time": self._local_time(
                ts + clock.offsets[visitor.sf] + visitor.skew, visitor.clock_style),
            "show_recommendation": _SHOW_RECOMMENDATION[bits >> 30 & 0x3FF],
            "current_url": url,
            "referrer_url": referrer,
            "email_address": visitor.email,
        }
        if bits >> 40 < 102:  # older trackers send no id (10%)
            del event["id"]
        if spec.loads_page:  # page loads carry the campaign fields
            if spec.fresh_product:
                event["recommendation"] = "itm_source=recommendation" in url
            event["utm_source"], event["utm_medium"] = visitor.utm
        event["collection"] = spec.collection
        spec.add_fields(event, visitor, spec, product)
        return event

    # --- time ------------------------------------------------------------------------------------
    def _tick(self) -> tuple[int, _Clock]:
        clock = self._clock
        if self._realtime:
            self._t = t = max(self._t, time.time())
            return int(t), clock if clock.hour == int(t // 3600) else self._clock_at(t)
        # An exponential gap under an intensity that is constant within each UTC hour.
        need = -math.log(1.0 - self._rng.random())
        t = self._t
        while True:
            hour_end = (clock.hour + 1) * 3600.0
            gap = need / clock.rate
            if t + gap < hour_end:
                self._t = t = t + gap
                return int(t), clock
            need -= (hour_end - t) * clock.rate
            t = hour_end
            clock = self._clock_at(t)

    def _clock_at(self, t: float) -> _Clock:
        hour = int(t // 3600)
        moment = datetime.fromtimestamp(hour * 3600, UTC)
        offsets = tuple(
            int((moment.astimezone(zone).utcoffset() or timedelta()).total_seconds()) for zone in self._zones
        )
        awake = [sf.weight * DIURNAL[(hour * 3600 + offset) // 3600 % 24]
                 for sf, offset in zip(STOREFRONTS, offsets, strict=True)]
        rate = self._base_rate * sum(awake) / sum(sf.weight for sf in STOREFRONTS)
        self._clock = _Clock(hour, rate, _Table(enumerate(awake)), offsets)
        return self._clock

    def _local_time(self, seconds: int, style: int) -> str:
        """The browser's "yyyy-MM-dd HH:mm:ss", in the tracker's padding style."""
        day, second = seconds // 86400, seconds % 86400
        try:
            date = self._dates[day * 4 + style]
        except KeyError:
            y, mo, d = time.gmtime(day * 86400)[:3]
            date = self._dates[day * 4 + style] = f"{y}-{mo}-{d}" if style == 2 else f"{y}-{mo:02d}-{d:02d}"
        hour = second // 3600
        return f"{date} {_HOURS[hour] if style == 0 else hour}:{_MINUTES_SECONDS[second % 3600]}"

    # --- visitors --------------------------------------------------------------------------------
    def _visitor(self, clock: _Clock, ts: int) -> _Visitor:
        pool, share = self._visitors, self._new_share
        roll = self._rng.random()  # below `share`: a new visitor; above: which one comes back
        if roll < share or not pool:
            visitor = self._new_visitor(clock)
            if len(pool) < self._cap:
                pool.append(visitor)
            else:
                pool[int(roll / share * len(pool))] = visitor
        else:
            slot = int((roll - share) / (1 - share) * len(pool))
            visitor = pool[slot]
            if ts - visitor.last_seen > SESSION_GAP_S:
                visitor = pool[slot] = self._new_visitor(clock)
        visitor.last_seen = ts
        return visitor

    def _new_visitor(self, clock: _Clock) -> _Visitor:
        rng = self._rng
        index = clock.storefronts.pick(rng)
        sf = STOREFRONTS[index]
        device, agents = self._browsers.pick(rng)
        sizes = RESOLUTIONS[device]
        # Two draws give this visitor's traits: 10-bit rolls (out of 1024) and small indexes.
        b, c = rng.getrandbits(64), rng.getrandbits(44)
        home = sf  # some shoppers browse from abroad; glamira.com is the international store
        if b & 0x3FF < (512 if sf.suffix == "com" else 72):
            home = STOREFRONTS[(b >> 10 & 0xFF) % len(STOREFRONTS)]
        v6 = IPV6_PREFIXES.get(home.country)
        if v6 and b >> 18 & 0x3FF < 154:
            prefix = v6[(b >> 28 & 0xFF) % len(v6)]
            ip = prefix + "".join(f":{rng.getrandbits(16):x}" for _ in range(7 - prefix.count(":")))
        else:
            ip = self._ipv4(home.ip16[(b >> 28 & 0xFF) % len(home.ip16)])
        host = f"www.glamira.{sf.suffix}"
        if b >> 36 & 0x3FF < round(NOISY_HOST_SHARE * 1024):
            host = self._noisy.pick(rng).format(s=sf.suffix, d=sf.suffix.replace(".", "-"))
        elif b >> 36 & 0x3FF < round((NOISY_HOST_SHARE + BARE_HOST_SHARE) * 1024):
            host = host[4:]
        store = sf.store_ids[0] if c & 0x3FF < 717 else sf.store_ids[(c >> 10 & 0xF) % len(sf.store_ids)]
        style = c >> 14 & 0x3FF
        v = _Visitor(
            device_id=_uuid(rng), ip=ip, user_agent=agents[(b >> 46 & 0xFF) % len(agents)],
            resolution=sizes[(b >> 54 & 0xFF) % len(sizes)], sf=index, base=f"https://{host}/",
            store_id=str(store), clock_style=0 if style < 614 else 1 if style < 922 else 2,
        )
        if c >> 24 & 0x3FF < 82:  # logged in: 8%
            v.user_id_db = str(rng.randrange(1000, 2_500_000))
            if rng.random() < 0.7:
                v.email = f"{rng.choice(PRODUCT_NAMES)}.{rng.randrange(10, 9999)}@example.com"
        if c >> 34 & 0x3FF < 5:  # a browser clock days to years off: 0.5%
            v.skew = int(rng.uniform(-3 * 365, 365) * 86400)
        return v

    def _new_bot(self, clock: _Clock) -> _Visitor:
        """Crawlers keep no cookies: each hit is a fresh device."""
        rng = self._rng
        agent, ips, resolution = self._bots.pick(rng)
        index = clock.storefronts.pick(rng)
        return _Visitor(
            device_id=_uuid(rng), ip=self._ipv4(rng.choice(ips)), user_agent=agent, resolution=resolution,
            sf=index, base=f"https://www.glamira.{STOREFRONTS[index].suffix}/",
            store_id=str(STOREFRONTS[index].store_ids[0]),
            skew=-clock.offsets[index], bot=True,  # crawlers run on UTC
        )

    def _ipv4(self, prefix: str) -> str:
        bits = self._rng.getrandbits(16)
        return f"{prefix}.{bits >> 8}.{(bits & 0xFF) % 254 + 1}"

    # --- pages -----------------------------------------------------------------------------------
    def _locate(self, v: _Visitor, spec: _Spec) -> tuple[str, str, int]:
        """The page the event happens on, its referrer, and the product it is about."""
        page = spec.page
        if not spec.loads_page and v.page == page:
            return v.url, v.page_referrer, v.product
        rng = self._rng
        kind, referrer = ("direct", "") if v.bot else self._referrers[v.sf].pick(rng)
        query, v.utm = "", NO_UTM
        if kind == "internal":
            referrer = v.url or v.base
        elif kind == "social" and ("facebook" in referrer or "instagram" in referrer):
            query = f"fbclid=IwAR{rng.getrandbits(96):024x}"
            if rng.random() < 0.3:
                v.utm = ("facebook", "paid_social")
        elif kind == "email":
            v.utm = ("newsletter", "email")
        elif kind == "paid":
            v.utm = ("google", "cpc")
            query = f"gclid=Cj0KCQjw{rng.getrandbits(120):030x}"
        product = v.product
        if product < 0 or spec.fresh_product:
            popularity = self._popularity
            product = bisect.bisect_right(popularity, rng.random() * popularity[-1])
        if page == "product":
            url = self._product_url(v, product, query, internal=kind == "internal")
        else:
            url = v.base + self._path(page, v.sf, product)
            if query:
                url += ("&" if "?" in url else "?") + query
        v.url, v.page, v.page_referrer, v.product = url, page, referrer, product
        return url, referrer, product

    def _product_url(self, v: _Visitor, product: int, query: str, internal: bool) -> str:
        """`glamira-<type>-<name>[-sku...].html?alloy=...&diamond=...` in the storefront's language."""
        b = self._rng.getrandbits(16)
        record = self._products[product]
        kind, name = record[1], record[2]
        alloy = ALLOY_BY_BITS[b & 15][0]
        stone = STONE_BY_BITS[b >> 4 & 15][0]
        url = f"{v.base}glamira-{self._langs[v.sf].product_types[kind]}-{name}.html"
        url += f"?alloy={alloy}&diamond={stone}"
        if b >> 8 & 15 < 3:
            url += "&stone2=diamond-Brillant"
        if internal and b >> 12 & 7 == 0:  # an eighth of internal clicks come from a recommendation
            url += "&itm_source=recommendation&itm_medium=" + ("sorting" if b >> 15 & 1 else "product")
        return f"{url}&{query}" if query else url

    def _path(self, page: str, sf: int, product: int) -> str:
        rng = self._rng
        if page == "listing":
            roll = rng.random()
            query = "" if roll < 0.6 else "?order=bestsellers" if roll < 0.8 else f"?p={rng.randrange(2, 9)}"
            return rng.choice(self._langs[sf].categories) + "/" + query
        if page == "search":
            self._term = rng.choice(PRODUCT_NAMES if rng.random() < 0.2 else self._langs[sf].searches)
            return "catalogsearch/result/?q=" + self._term.replace(" ", "+")
        if page == "view_all":
            return f"recommendation/all/?product_id={self._products[product][0]}"
        if page == "checkout":
            return "customcheckout/onepage/" + rng.choice(("", "shipping/", "payment/", "review/"))
        fixed = {"home": "", "cart": "checkout/cart/", "success": "checkout/onepage/success/"}
        if page in fixed:
            return fixed[page]
        choices = {"landing": LANDING_PAGES, "static": STATIC_PAGES, "account": ACCOUNT_PAGES}[page]
        return rng.choice(choices) + "/"

    def _product_id(self, product: int) -> int | str:
        """Product ids arrive as numbers or strings."""
        pid = self._products[product][0]
        return pid if self._rng.random() < 0.3 else str(pid)

    def _draw_product(self) -> int:
        popularity = self._popularity
        return bisect.bisect_right(popularity, self._rng.random() * popularity[-1])

    # --- the fields each shape adds ----------------------------------------------------------------
    def _add_product_view(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        b = self._rng.getrandbits(38)
        pid, _, _, _, alloy_option, stone_option = self._products[product]
        e["product_id"] = pid if b & 0x3FF < 307 else str(pid)
        options = []
        if b >> 10 & 0xFF > 30:  # 12% carry an empty array
            options.append(_option("alloy", alloy_option, ALLOY_BY_BITS[b >> 18 & 15][2], "", b >> 22 & 15))
            if b >> 26 & 15 < 11:
                options.append(_option("diamond", stone_option, STONE_BY_BITS[b >> 30 & 15][2], "", b >> 34 & 15))
        e["option"] = options

    def _add_product_option(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        rng = self._rng
        e["product_id"] = self._product_id(product)
        _, _, _, _, alloy_option, stone_option = self._products[product]
        if spec.collection == "select_product_option_quality":
            label, value_id = rng.choice(QUALITIES)
            e["option"] = [_option("quality", stone_option + 1, value_id, label, rng.randrange(16))]
        elif spec.collection == "back_to_product_action":
            e["option"] = []
        else:
            _, alloy_label, alloy_id = rng.choice(ALLOYS)
            options = [_option("alloy", alloy_option, alloy_id, alloy_label, rng.randrange(16))]
            if spec.collection == "add_to_cart_action" or rng.random() < 0.3:
                _, stone_label, stone_id = rng.choice(STONES)
                options.append(_option("diamond", stone_option, stone_id, stone_label, rng.randrange(16)))
            e["option"] = options
        if spec.collection == "add_to_cart_action":
            v.cart = None  # the cart changed: rebuild it when it is next shown

    def _add_product_reco(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        e["viewing_product_id"] = self._product_id(product)
        if spec.clicked:
            self._add_clicked(e)

    def _add_clicked(self, e: Fields) -> None:
        e["recommendation_product_id"] = self._product_id(self._draw_product())
        e["recommendation_clicked_position"] = self._rng.randrange(1, 13)

    def _add_listing(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        rng = self._rng
        e["cat_id"] = str(rng.randrange(10, 1200)) if rng.random() < 0.9 else ""
        e["collect_id"] = "" if rng.random() < 0.7 else str(rng.randrange(1, 400))
        e["option"] = {
            "alloy": rng.choice(ALLOYS)[0] if rng.random() < 0.15 else "",
            "diamond": rng.choice(STONES)[0] if rng.random() < 0.1 else "",
            "shapediamond": rng.choice(("round", "princess", "oval", "heart")) if rng.random() < 0.05 else "",
        }

    def _add_listing_reco(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        e["cat_id"] = str(self._rng.randrange(10, 1200))
        e["collect_id"] = ""
        if spec.clicked:
            self._add_clicked(e)

    def _add_landing_reco(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        if spec.clicked:
            self._add_clicked(e)

    def _add_page(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        """Home, landing, static and account pages carry only the common fields."""

    def _add_search(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        e["key_search"] = self._term

    def _add_cart(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        if v.cart is None:
            v.cart = self._cart(v)
        e["cart_products"] = v.cart
        if spec.collection != "view_shopping_cart":
            e["is_paypal"] = self._rng.random() < 0.2

    def _add_order(self, e: Fields, v: _Visitor, spec: _Spec, product: int) -> None:
        self._add_cart(e, v, spec, product)
        self._order_id += self._rng.randrange(1, 40)
        e["order_id"] = self._order_id if self._rng.random() < 0.5 else str(self._order_id)
        v.cart = None  # bought: the next cart starts empty

    def _cart(self, v: _Visitor) -> list[Fields]:
        rng = self._rng
        sf = STOREFRONTS[v.sf]
        lines = []
        for n in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
            product = v.product if n == 0 and v.product >= 0 else self._draw_product()
            pid, _, _, price, alloy_option, _ = self._products[product]
            _, label, value_id = rng.choice(ALLOYS)
            option = [{"option_label": "alloy", "option_id": alloy_option, "value_label": label,
                       "value_id": value_id}]
            lines.append({
                "product_id": pid if rng.random() < 0.5 else str(pid),
                "amount": 2 if rng.random() < 0.08 else 1,
                "price": format_price(price * sf.fx, sf.price_style),
                "currency": sf.currency,
                "option": "" if rng.random() < 0.15 else option,
            })
        return lines
