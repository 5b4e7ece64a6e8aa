"""The pages events happen on: each event's URL, its referrer and the product it is about."""

from __future__ import annotations

import bisect
import random

from pulse.traffic.data import (
    ACCOUNT_PAGES,
    ALLOY_BY_BITS,
    LANDING_PAGES,
    NO_UTM,
    PRODUCT_NAMES,
    STATIC_PAGES,
    STONE_BY_BITS,
    Language,
)
from pulse.traffic.parts import Spec, Visitor, WeightedTable


class Pages:
    """The generator's page logic (TrafficGenerator mixes it in; it owns the state named here)."""

    _rng: random.Random
    _referrers: list[WeightedTable[tuple[str, str]]]
    _langs: list[Language]
    _products: list[tuple[int, int, str, float, int, int]]
    _popularity: list[float]
    _term: str

    def _locate(self, v: Visitor, spec: Spec) -> tuple[str, str, int]:
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

    def _product_url(self, v: Visitor, product: int, query: str, internal: bool) -> str:
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
