"""Events with personal data planted in every field, and the planted values a privacy check searches for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PlantedTraffic", "planted_traffic"]


@dataclass
class PlantedTraffic:
    """Valid events carrying planted e-mails, IPs and URL credentials, one rejected one, and the needles.

    `needles` are the exact planted strings (e-mails also percent-encoded, IPs in full, credentials); none
    may appear anywhere in the warehouse except in quarantine.raw (the raw bytes, owner only).
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    needles: list[str] = field(default_factory=list)

    def email(self, name: str) -> str:
        """A planted address named after the field it goes into."""
        address = f"p-{name}@example.org"
        self.needles += [address, address.replace("@", "%40")]
        return address

    def ip(self, last_octet: int) -> str:
        """A planted IPv4 address (198.51.100.0/24, TEST-NET-2); last octets 11-99 keep needles apart."""
        assert 11 <= last_octet <= 99
        address = f"198.51.100.{last_octet}"
        self.needles.append(address)
        return address

    def ipv6(self, last_group: int) -> str:
        """A planted IPv6 address (2001:db8::/32, documentation)."""
        address = f"2001:db8:abcd:12::{last_group:x}"
        self.needles.append(address)
        return address


def planted_traffic(time_stamp: int) -> PlantedTraffic:
    """Four valid events (product, recommendation, listing, cart shapes) and one invalid one, all at
    `time_stamp`, with personal data in every modelled and unmodelled field, URL query strings, referrers
    with credentials, option values and keys, cart items, ids and UTM values."""
    t = PlantedTraffic()
    t.needles += ["alice:s3cr3t", "s3cr3t", "bob@", "carol%2Bx%40example.net", "carol+x@example.net"]
    base = {"time_stamp": time_stamp, "api_version": "1.0"}
    t.events.append({
        **base,
        "id": f"evt-{t.email('id')}",
        "collection": "view_product_detail",
        "ip": t.ip(11),
        "user_agent": f"Mozilla/5.0 (compatible; {t.email('ua')}; {t.ip(12)}) PlantBot/{t.ip(13)}",
        "device_id": t.email("device"),
        "email_address": t.email("email-address"),
        "current_url": f"https://www.glamira.de/ring-{t.email('slug').replace('@', '%40')}.html"
                       f"?alloy={t.email('url-option')}&utm_source={t.ip(14)}&utm_campaign={t.email('campaign')}"
                       f"&ip={t.ip(15)}&gclid={t.email('gclid')}",
        "referrer_url": f"https://alice:s3cr3t@www.google.com/search?q={t.email('referrer')}&from={t.ip(16)}",
        "product_id": t.email("product"),
        "store_id": t.ip(17),
        "order_id": t.email("order"),
        "local_time": f"2024-05-28 {t.email('local-time')}",
        "user_id_db": t.email("user-id-db"),
        "resolution": t.ipv6(0x18),
        "utm_source": t.email("utm-source"),
        "utm_medium": t.ip(19),
        "key_search": f"ring for {t.email('search')} from {t.ip(20)} and {t.ipv6(0x21)}",
        "cat_id": t.email("cat"),
        "option": [{"option_label": t.email("option-label"), "option_id": "1",
                    "value_label": t.ip(22), "value_id": "2"}],
        "contact": t.email("extra-value"),
        t.email("extra-key"): {"nested": [t.ip(23), {"deep": "carol%2Bx%40example.net", t.ip(24): [t.ipv6(0x25)]}]},
        "client_ip": t.ip(26),
        "callback": f"https://bob@intranet.example.com/hook?to={t.email('extra-url')}",
    })
    t.events.append({
        **base,
        "_id": {"$oid": f"oid-{t.ip(27)}"},
        "collection": f"promo {t.email('collection')}",
        "ip": t.ipv6(0x28),
        "email": t.email("email-spec"),
        "current_url": f"http://{t.ip(29)}/landing.html?diamond={t.email('page-option')}&colour={t.ip(30)}",
        "referrer_url": f"http://bob@{t.ip(31)}:8080/mail?u=carol%2Bx%40example.net",
        "viewing_product_id": t.ip(32),
        "recommendation_product_id": t.email("recommendation"),
        "api_version": t.ip(33),
        "resolution": t.email("resolution"),
        "utm_medium": t.email("utm-medium"),
        "option": {t.email("option-key"): t.email("option-object-value"), "alloy": t.ip(34)},
    })
    t.events.append({
        **base,
        "id": f"cart-{t.ip(35)}",
        "collection": "add_to_cart_action",
        "current_url": f"https://www.glamira.co.uk/cart/?utm_source={t.email('url-utm')}",
        "referrer_url": f"https://{t.ipv6(0x36).join('[]')}/x?mail={t.email('referrer-2')}",
        "cart_products": [{"product_id": t.email("cart-product"), "amount": 1, "price": "4.990,00",
                           "currency": t.ip(37)}],
        "store_id": t.email("store"),
        "cat_id": t.ip(38),
    })
    t.events.append({
        **base,
        "id": "evt-clean-0001",
        "collection": "view_listing_page",
        "current_url": f"https://{t.ip(39)}.nip.example/?q={t.email('host-query')}",
        "referrer_url": f"android-app://{t.email('android-app')}/",
        "product_id": "96672",
    })
    # Rejected (time_stamp not a number): its detail quotes the value; quarantine.detail must not keep it.
    t.rejected.append({"id": "evt-rejected-0001", "collection": "view_product_detail",
                       "time_stamp": t.email("ts")})
    return t
