"""Synthetic Glamira traffic in the real event shapes (DESIGN.md §1): deterministic per seed, no I/O."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from pulse.traffic.data import (
    BARE_HOST_SHARE,
    BOT_MIX,
    BOTS,
    BROWSERS,
    COLLECTION_MIX,
    DIURNAL,
    EMAIL_REFERRERS,
    GOOGLE_TLD,
    IPV6_PREFIXES,
    LANGUAGES,
    NOISY_HOST_SHARE,
    NOISY_HOSTS,
    OTHER_REFERRERS,
    PRODUCT_NAMES,
    REFERRER_KINDS,
    RESOLUTIONS,
    SEARCH_REFERRERS,
    SOCIAL_REFERRERS,
    STOREFRONTS,
    Storefront,
)
from pulse.traffic.pages import Pages
from pulse.traffic.parts import Clock, Fields, Spec, Visitor, WeightedTable, random_uuid
from pulse.traffic.shapes import EventShapes

SESSION_GAP_S = 1800  # a visitor idle this long has left; the slot goes to a new visitor

_HOURS = [f"{h:02d}" for h in range(24)]
_MINUTES_SECONDS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
# "true" 35%, "false" 45%, null 20%, indexed by 10 random bits
_SHOW_RECOMMENDATION = ["true"] * 358 + ["false"] * 461 + [None] * 205


def encode(event: Fields) -> bytes:
    """The bytes a tracker would send for `event`."""
    return orjson.dumps(event)


class TrafficGenerator(Pages, EventShapes):
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
        self._visitors: list[Visitor] = []
        self._dates: dict[int, str] = {}  # (local day * 4 + clock style) -> date part of local_time
        self._term = ""
        self._order_id = rng.randrange(700_000_000, 720_000_000)
        self._machine = f"{rng.getrandbits(40):010x}"  # ObjectId: machine and process part
        self._object_count = rng.getrandbits(24)
        self._object_ts, self._object_prefix = -1, ""

        specs = {c: Spec(c, page, load, c == "view_product_detail", c.endswith("_clicked"),
                          getattr(self, f"_add_{shape}"))
                 for c, _, shape, page, load in COLLECTION_MIX}
        self._mix = WeightedTable((specs[c], w) for c, w, *_ in COLLECTION_MIX)
        self._bot_mix = WeightedTable((specs[c], w) for c, w in BOT_MIX)
        self._bots = WeightedTable(((ua, ips, res), w) for ua, w, ips, res in BOTS)
        self._browsers = WeightedTable(((device, agents), w) for w, device, agents in BROWSERS)
        self._noisy = WeightedTable(NOISY_HOSTS)
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
    def _referrer_table(sf: Storefront) -> WeightedTable[tuple[str, str]]:
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
        return WeightedTable(rows)

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
            "id": random_uuid(rng),
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
    def _tick(self) -> tuple[int, Clock]:
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

    def _clock_at(self, t: float) -> Clock:
        hour = int(t // 3600)
        moment = datetime.fromtimestamp(hour * 3600, UTC)
        offsets = tuple(
            int((moment.astimezone(zone).utcoffset() or timedelta()).total_seconds()) for zone in self._zones
        )
        awake = [sf.weight * DIURNAL[(hour * 3600 + offset) // 3600 % 24]
                 for sf, offset in zip(STOREFRONTS, offsets, strict=True)]
        rate = self._base_rate * sum(awake) / sum(sf.weight for sf in STOREFRONTS)
        self._clock = Clock(hour, rate, WeightedTable(enumerate(awake)), offsets)
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
    def _visitor(self, clock: Clock, ts: int) -> Visitor:
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

    def _new_visitor(self, clock: Clock) -> Visitor:
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
        v = Visitor(
            device_id=random_uuid(rng), ip=ip, user_agent=agents[(b >> 46 & 0xFF) % len(agents)],
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

    def _new_bot(self, clock: Clock) -> Visitor:
        """Crawlers keep no cookies: each hit is a fresh device."""
        rng = self._rng
        agent, ips, resolution = self._bots.pick(rng)
        index = clock.storefronts.pick(rng)
        return Visitor(
            device_id=random_uuid(rng), ip=self._ipv4(rng.choice(ips)), user_agent=agent, resolution=resolution,
            sf=index, base=f"https://www.glamira.{STOREFRONTS[index].suffix}/",
            store_id=str(STOREFRONTS[index].store_ids[0]),
            skew=-clock.offsets[index], bot=True,  # crawlers run on UTC
        )

    def _ipv4(self, prefix: str) -> str:
        bits = self._rng.getrandbits(16)
        return f"{prefix}.{bits >> 8}.{(bits & 0xFF) % 254 + 1}"
