"""The fields each event shape adds: options, recommendations, listings, searches, carts and orders."""

from __future__ import annotations

import bisect
import random

from pulse.traffic.data import (
    ALLOY_BY_BITS,
    ALLOYS,
    QUALITIES,
    STONE_BY_BITS,
    STONES,
    STOREFRONTS,
)
from pulse.traffic.parts import Fields, Spec, Visitor, format_price, option_entry


class EventShapes:
    """The generator's per-shape fields (TrafficGenerator mixes it in; it owns the state named here)."""

    _rng: random.Random
    _products: list[tuple[int, int, str, float, int, int]]
    _popularity: list[float]
    _term: str
    _order_id: int

    def _product_id(self, product: int) -> int | str:
        """Product ids arrive as numbers or strings."""
        pid = self._products[product][0]
        return pid if self._rng.random() < 0.3 else str(pid)

    def _draw_product(self) -> int:
        popularity = self._popularity
        return bisect.bisect_right(popularity, self._rng.random() * popularity[-1])

    def _add_product_view(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        b = self._rng.getrandbits(38)
        pid, _, _, _, alloy_option, stone_option = self._products[product]
        e["product_id"] = pid if b & 0x3FF < 307 else str(pid)
        options = []
        if b >> 10 & 0xFF > 30:  # 12% carry an empty array
            options.append(option_entry("alloy", alloy_option, ALLOY_BY_BITS[b >> 18 & 15][2], "", b >> 22 & 15))
            if b >> 26 & 15 < 11:
                options.append(option_entry("diamond", stone_option, STONE_BY_BITS[b >> 30 & 15][2], "", b >> 34 & 15))
        e["option"] = options

    def _add_product_option(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        rng = self._rng
        e["product_id"] = self._product_id(product)
        _, _, _, _, alloy_option, stone_option = self._products[product]
        if spec.collection == "select_product_option_quality":
            label, value_id = rng.choice(QUALITIES)
            e["option"] = [option_entry("quality", stone_option + 1, value_id, label, rng.randrange(16))]
        elif spec.collection == "back_to_product_action":
            e["option"] = []
        else:
            _, alloy_label, alloy_id = rng.choice(ALLOYS)
            options = [option_entry("alloy", alloy_option, alloy_id, alloy_label, rng.randrange(16))]
            if spec.collection == "add_to_cart_action" or rng.random() < 0.3:
                _, stone_label, stone_id = rng.choice(STONES)
                options.append(option_entry("diamond", stone_option, stone_id, stone_label, rng.randrange(16)))
            e["option"] = options
        if spec.collection == "add_to_cart_action":
            v.cart = None  # the cart changed: rebuild it when it is next shown

    def _add_product_reco(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        e["viewing_product_id"] = self._product_id(product)
        if spec.clicked:
            self._add_clicked(e)

    def _add_clicked(self, e: Fields) -> None:
        e["recommendation_product_id"] = self._product_id(self._draw_product())
        e["recommendation_clicked_position"] = self._rng.randrange(1, 13)

    def _add_listing(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        rng = self._rng
        e["cat_id"] = str(rng.randrange(10, 1200)) if rng.random() < 0.9 else ""
        e["collect_id"] = "" if rng.random() < 0.7 else str(rng.randrange(1, 400))
        e["option"] = {
            "alloy": rng.choice(ALLOYS)[0] if rng.random() < 0.15 else "",
            "diamond": rng.choice(STONES)[0] if rng.random() < 0.1 else "",
            "shapediamond": rng.choice(("round", "princess", "oval", "heart")) if rng.random() < 0.05 else "",
        }

    def _add_listing_reco(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        e["cat_id"] = str(self._rng.randrange(10, 1200))
        e["collect_id"] = ""
        if spec.clicked:
            self._add_clicked(e)

    def _add_landing_reco(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        if spec.clicked:
            self._add_clicked(e)

    def _add_page(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        """Home, landing, static and account pages carry only the common fields."""

    def _add_search(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        e["key_search"] = self._term

    def _add_cart(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        if v.cart is None:
            v.cart = self._cart(v)
        e["cart_products"] = v.cart
        if spec.collection != "view_shopping_cart":
            e["is_paypal"] = self._rng.random() < 0.2

    def _add_order(self, e: Fields, v: Visitor, spec: Spec, product: int) -> None:
        self._add_cart(e, v, spec, product)
        self._order_id += self._rng.randrange(1, 40)
        e["order_id"] = self._order_id if self._rng.random() < 0.5 else str(self._order_id)
        v.cart = None  # bought: the next cart starts empty

    def _cart(self, v: Visitor) -> list[Fields]:
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
