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

T = TypeVar("T")
Fields = dict[str, Any]

# --- the event mix -----------------------------------------------------------------------------
# (collection, weight per mille of human traffic, shape of its extra fields, page it is on, page load?).
# In-page events (page load False) reuse the page the visitor has open, or open that page first.
COLLECTION_MIX: tuple[tuple[str, float, str, str, bool], ...] = (
    ("view_product_detail", 420, "product_view", "product", True),
    ("select_product_option", 105, "product_option", "product", False),
    ("select_product_option_quality", 22, "product_option", "product", False),
    ("product_detail_recommendation_visible", 80, "product_reco", "product", False),
    ("product_detail_recommendation_noticed", 42, "product_reco", "product", False),
    ("product_detail_recommendation_clicked", 16, "product_reco", "product", False),
    ("view_listing_page", 85, "listing", "listing", True),
    ("view_sorting_relevance", 8, "listing", "listing", True),
    ("sorting_relevance_click_action", 5, "listing", "listing", False),
    ("listing_page_recommendation_visible", 18, "listing_reco", "listing", False),
    ("listing_page_recommendation_noticed", 9, "listing_reco", "listing", False),
    ("listing_page_recommendation_clicked", 4, "listing_reco", "listing", False),
    ("view_landing_page", 22, "page", "landing", True),
    ("landing_page_recommendation_visible", 9, "landing_reco", "landing", False),
    ("landing_page_recommendation_noticed", 4, "landing_reco", "landing", False),
    ("landing_page_recommendation_clicked", 2, "landing_reco", "landing", False),
    ("view_home_page", 28, "page", "home", True),
    ("view_static_page", 24, "page", "static", True),
    ("search_box_action", 16, "search", "search", True),
    ("view_my_account", 6, "page", "account", True),
    ("view_shopping_cart", 12, "cart", "cart", True),
    ("add_to_cart_action", 9, "product_option", "product", False),
    ("back_to_product_action", 7, "product_option", "product", True),
    ("view_all_recommend", 4, "product_reco", "view_all", True),
    ("product_view_all_recommend_clicked", 2.5, "product_reco", "view_all", False),
    ("checkout", 4, "cart", "checkout", True),
    ("checkout_success", 1.5, "order", "success", True),
)
# Crawlers and link previewers hit pages only (their share is `bot_share` of all events).
BOT_MIX: tuple[tuple[str, float], ...] = (
    ("view_product_detail", 70), ("view_listing_page", 14), ("view_home_page", 8),
    ("view_static_page", 5), ("view_landing_page", 3),
)
# (user agent, weight, public /16s they crawl from, resolution)
BOTS: tuple[tuple[str, float, tuple[str, ...], str], ...] = (
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 40,
     ("31.13", "69.171", "173.252", "66.220"), "2000x2000"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 18,
     ("66.249",), "1024x1024"),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     18, ("66.249",), "412x732"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 12,
     ("157.55", "207.46", "40.77"), "1366x768"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 8, ("54.36", "51.222"), ""),
    ("Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)", 4, ("54.236",), ""),
)


# --- storefronts -------------------------------------------------------------------------------
class Storefront(NamedTuple):
    """A country site: host suffix after `glamira.`, its stores and how its shoppers look."""

    suffix: str
    country: str  # "" for glamira.com (the international store) and glamira.africa
    zone: str  # IANA zone of the shoppers' browsers
    store_ids: tuple[int, ...]
    lang: str
    currency: str
    fx: float  # currency units per euro
    price_style: str  # key of PRICE_STYLES
    weight: float  # share of traffic
    ip16: tuple[str, ...]  # plausible public /16s of the country's access networks (synthetic)


# The first 19 rows carry the store ids seen in real data; the rest are plausible additions.
# suffix | country | zone | store ids | language | currency | per EUR | price style | weight | IP /16s
_STOREFRONT_ROWS = """
de     | DE | Europe/Berlin       | 6        | de | €    | 1    | dot       | 14  | 79.200 84.150 91.64
co.uk  | GB | Europe/London       | 7        | en | £    | 0.85 | comma     | 10  | 86.128 82.132 81.106
es     | ES | Europe/Madrid       | 8        | es | €    | 1    | dot       | 5   | 83.32 88.6 79.147
at     | AT | Europe/Vienna       | 9        | de | €    | 1    | dot       | 3   | 80.108 84.112 178.112
ch     | CH | Europe/Zurich       | 10 44 45 | de | CHF  | 0.95 | apos      | 3   | 178.194 83.76 85.5
nl     | NL | Europe/Amsterdam    | 11       | nl | €    | 1    | dot       | 4   | 84.80 77.160 83.84
fr     | FR | Europe/Paris        | 12       | fr | €    | 1    | space     | 6   | 90.0 86.200 78.192
it     | IT | Europe/Rome         | 14       | it | €    | 1    | dot       | 6   | 79.20 93.34 151.38
se     | SE | Europe/Stockholm    | 19       | sv | kr   | 11.5 | space     | 3   | 83.248 90.224 78.68
com.au | AU | Australia/Sydney    | 29       | en | AU $ | 1.65 | comma     | 3   | 1.120 101.160 49.176
pt     | PT | Europe/Lisbon       | 34       | pt | €    | 1    | dot       | 2   | 85.240 89.152 94.60
com.mt | MT | Europe/Malta        | 36       | en | €    | 1    | comma     | 0.3 | 80.85 46.11 77.71
ca     | CA | America/Toronto     | 38 39    | en | CA $ | 1.5  | comma     | 3   | 24.114 99.224 70.24
com    |    | America/New_York    | 41       | en | $    | 1.08 | comma     | 7   | 73.12 98.192 71.60
pl     | PL | Europe/Warsaw       | 50       | pl | zł   | 4.3  | space     | 4   | 83.24 89.64 178.37
rs     | RS | Europe/Belgrade     | 52       | en | RSD  | 117  | dot       | 1   | 109.92 178.148 93.86
sk     | SK | Europe/Bratislava   | 53       | en | €    | 1    | space     | 1   | 178.40 92.52 95.102
bg     | BG | Europe/Sofia        | 66       | en | лв.  | 1.96 | dot       | 1   | 78.83 87.126 95.42
cl     | CL | America/Santiago    | 85       | es | $    | 1000 | dot_int   | 1.5 | 186.10 190.160 181.43
be     | BE | Europe/Brussels     | 15 16    | nl | €    | 1    | dot       | 2   | 81.240 91.176 109.132
dk     | DK | Europe/Copenhagen   | 17       | en | kr.  | 7.46 | dot       | 1.5 | 87.49 80.62
no     | NO | Europe/Oslo         | 18       | en | kr   | 11.7 | space     | 1.2 | 84.208 88.88
fi     | FI | Europe/Helsinki     | 20       | en | €    | 1    | space     | 1   | 84.248 91.152
ie     | IE | Europe/Dublin       | 21       | en | €    | 1    | comma     | 1   | 86.40 89.100
cz     | CZ | Europe/Prague       | 22       | en | Kč   | 25   | space     | 1.2 | 89.24 78.102
hu     | HU | Europe/Budapest     | 23       | en | Ft   | 395  | space_int | 1   | 84.0 178.48
ro     | RO | Europe/Bucharest    | 24       | en | Lei  | 4.97 | dot       | 1.5 | 86.120 79.112
gr     | GR | Europe/Athens       | 25       | en | €    | 1    | dot       | 0.8 | 94.64 79.129
hr     | HR | Europe/Zagreb       | 26       | en | €    | 1    | dot       | 0.5 | 93.136 78.1
si     | SI | Europe/Ljubljana    | 27       | en | €    | 1    | dot       | 0.3 | 93.103 89.142
lt     | LT | Europe/Vilnius      | 28       | en | €    | 1    | space     | 0.3 | 78.56 88.119
lv     | LV | Europe/Riga         | 31       | en | €    | 1    | space     | 0.3 | 87.110 46.109
ee     | EE | Europe/Tallinn      | 32       | en | €    | 1    | space     | 0.3 | 90.190 84.50
lu     | LU | Europe/Luxembourg   | 33       | fr | €    | 1    | dot       | 0.3 | 85.93 94.252
co.nz  | NZ | Pacific/Auckland    | 30       | en | NZ $ | 1.8  | comma     | 0.8 | 122.56 125.236
com.br | BR | America/Sao_Paulo   | 55       | pt | R$   | 5.9  | dot       | 1.5 | 177.32 189.6
com.mx | MX | America/Mexico_City | 56       | es | MX$  | 19   | comma     | 1.5 | 187.188 201.141
com.ar | AR | America/Argentina/Buenos_Aires | 57       | es | $    | 950  | dot       | 0.6 | 181.46 190.16
com.co | CO | America/Bogota      | 58       | es | $    | 4300 | dot_int   | 0.6 | 181.50 190.24
com.pe | PE | America/Lima        | 59       | es | S/   | 4    | comma     | 0.4 | 190.236 179.6
co.za  | ZA | Africa/Johannesburg | 60       | en | R    | 20   | space     | 0.6 | 41.13 105.224
in     | IN | Asia/Kolkata        | 61       | en | ₹    | 90   | comma_int | 0.8 | 49.36 106.192
sg     | SG | Asia/Singapore      | 62       | en | S$   | 1.45 | comma     | 0.5 | 116.86 119.56
co.jp  | JP | Asia/Tokyo          | 63       | en | ¥    | 160  | comma_int | 0.5 | 126.100 153.204
ae     | AE | Asia/Dubai          | 64       | en | AED  | 3.95 | comma     | 0.6 | 94.200 86.96
com.my | MY | Asia/Kuala_Lumpur   | 65       | en | RM   | 5    | comma     | 0.4 | 175.136 60.48
ph     | PH | Asia/Manila         | 67       | en | ₱    | 62   | comma     | 0.4 | 112.198 49.145
africa |    | Africa/Lagos        | 70       | en | US $ | 1.08 | comma     | 0.3 | 102.89 197.210
"""


def _storefronts(rows: str) -> tuple[Storefront, ...]:
    parsed = []
    for line in rows.strip().splitlines():
        suffix, country, zone, ids, lang, money, fx, style, weight, ips = (c.strip() for c in line.split("|"))
        parsed.append(Storefront(suffix, country, zone, tuple(int(i) for i in ids.split()), lang, money,
                                 float(fx), style, float(weight), tuple(ips.split())))
    return tuple(parsed)


STOREFRONTS = _storefronts(_STOREFRONT_ROWS)
# Search-engine domains where google.<suffix> is not the local one.
_GOOGLE_TLD = {"in": "co.in", "sg": "com.sg", "africa": "com", "ph": "com.ph"}
IPV6_PREFIXES = {"DE": ("2003:c2", "2a02:8108"), "FR": ("2a01:cb00",), "GB": ("2a00:23c7",),
                 "": ("2601:281",)}

# (thousands separator, decimal separator or None for currencies shown without cents).
PRICE_STYLES: dict[str, tuple[str, str | None]] = {
    "dot": (".", ","), "comma": (",", "."), "space": (" ", ","), "apos": ("'", "."),
    "dot_int": (".", None), "comma_int": (",", None), "space_int": (" ", None),
}


class Language(NamedTuple):
    """Words a storefront language uses in its URLs and searches."""

    product_types: tuple[str, ...]  # ring, earring, pendant, necklace, bracelet
    categories: tuple[str, ...]
    searches: tuple[str, ...]


def _words(*groups: str) -> Language:
    product_types, categories, searches = (tuple(g.split(",")) for g in groups)
    return Language(product_types, categories, searches)


LANGUAGES: dict[str, Language] = {
    "en": _words("ring,earring,pendant,necklace,bracelet",
                 "engagement-rings,wedding-rings,diamond-earrings,necklaces,bracelets,mens-rings",
                 "engagement ring,wedding bands,diamond ring,heart necklace,earings,moissanite"),
    "de": _words("ring,ohrring,anhaenger,kette,armband",
                 "verlobungsringe,eheringe,ohrringe,halsketten,armbaender,herrenringe",
                 "verlobungsring,eheringe gold,kette herz,ohrstecker,ring,trauringe"),
    "es": _words("anillo,pendiente,colgante,collar,pulsera",
                 "anillos-de-compromiso,alianzas,pendientes,collares,pulseras,anillos-hombre",
                 "anillo compromiso,alianzas oro,pendientes,collar corazon"),
    "fr": _words("bague,boucle-d-oreille,pendentif,collier,bracelet",
                 "bagues-de-fiancailles,alliances,boucles-d-oreilles,colliers,bracelets",
                 "bague fiancaille,alliance,solitaire,collier"),
    "it": _words("anello,orecchino,ciondolo,collana,bracciale",
                 "anelli-di-fidanzamento,fedi-nuziali,orecchini,collane,bracciali",
                 "anello,fedi,solitario,orecchini oro"),
    "nl": _words("ring,oorbel,hanger,ketting,armband",
                 "verlovingsringen,trouwringen,oorbellen,kettingen,armbanden",
                 "verlovingsring,trouwringen,oorbellen"),
    "pt": _words("anel,brinco,pingente,colar,pulseira",
                 "aneis-de-noivado,aliancas,brincos,colares,pulseiras",
                 "anel de noivado,aliancas,brincos"),
    "pl": _words("pierscionek,kolczyk,wisiorek,naszyjnik,bransoletka",
                 "pierscionki-zareczynowe,obraczki,kolczyki,naszyjniki,bransoletki",
                 "pierscionek,obraczki,kolczyki"),
    "sv": _words("ring,orhange,hange,halsband,armband",
                 "forlovningsringar,vigselringar,orhangen,halsband,armband",
                 "forlovningsring,vigselringar"),
}
LANDING_PAGES = ("valentines-day", "mothers-day", "black-friday", "christmas-gifts", "birthstones",
                 "gift-ideas")
STATIC_PAGES = ("about-us", "faq", "ring-size", "shipping", "returns", "contact", "impressum", "privacy")
ACCOUNT_PAGES = ("customer/account", "customer/account/login", "sales/order/history", "wishlist")
PRODUCT_NAMES = (
    "saphira anisa zoella caeli dalia elisa amaris bellatrix cassia daphne eleonora fiora giselle helena "
    "ilaria jolie kalinda leonie mirabel nadia odette paloma quinn rosalie serafina tiana ursula valeria "
    "wilma xenia yasmin zaria aileena brisa corinna delphine emmeline flavia gloria hermine isadora "
    "juniper kalista liora marisol noemi oriana perla ramona selene talia viviana wanda yvette zelda "
    "adelina bianca clarissa dorothea estelle fenella ginevra hannelore ines jasmina"
).split()
# (URL slug, label, value id)
ALLOYS = (("white-375", "White gold 375", 1156861), ("white-585", "White gold 585", 1156867),
          ("white-750", "White gold 750", 1156873), ("red-585", "Rose gold 585", 1156869),
          ("yellow-585", "Yellow gold 585", 1156868), ("yellow-750", "Yellow gold 750", 1156874),
          ("platin-950", "Platinum 950", 1156880), ("silber-925", "Silver 925", 1156855))
STONES = (("diamond-Brillant", "Diamond", 3279318), ("sapphire", "Sapphire", 3279320),
          ("ruby", "Ruby", 3279322), ("emerald", "Emerald", 3279324), ("zirconia", "Zirconia", 3279330),
          ("swarovskicrystal", "Swarovski Crystal", 3279332),
          ("lab-grown-diamond", "Lab-Grown Diamond", 3279340),
          ("black-diamond", "Black Diamond", 3279342), ("moissanite", "Moissanite", 3279350),
          ("amethyst", "Amethyst", 3279352))
QUALITIES = (("AAA", 501), ("AA", 502), ("A", 503), ("Premium", 504))
# Indexed by 4 random bits: the first entries (white gold, diamond, sapphire) come up more often.
_ALLOY_BY_BITS = [ALLOYS[i % len(ALLOYS)] for i in range(16)]
_STONE_BY_BITS = [STONES[i % len(STONES)] for i in range(16)]


# --- browsers: (weight %, device, user agents) --------------------------------------------------
def _agents(template: str, versions: Iterable[str], models: Iterable[str] = ("",)) -> tuple[str, ...]:
    """Expand a UA template over versions ({v}; {d} is {v} with dots) and device models ({m})."""
    return tuple(template.format(v=v, d=v.replace("_", "."), m=m) for m in models for v in versions)


_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0"
_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
_SAFARI_IOS = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{d} Mobile/15E148 Safari/604.1"
_V_CHROME = [str(v) for v in range(119, 132)]
_V_FIREFOX = [str(v) for v in range(121, 134)]
_V_IOS = ("16_6", "17_4", "17_5", "17_6", "18_0", "18_1")
BROWSERS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (27, "desktop", _agents(f"{_WIN} {_CHROME} Safari/537.36", _V_CHROME)),
    (6, "desktop", _agents(f"{_WIN} {_CHROME} Safari/537.36 Edg/{{v}}.0.0.0", _V_CHROME)),
    (3, "desktop", _agents("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
                           _V_FIREFOX)),
    (6, "desktop", _agents(f"{_MAC} AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{{d}} Safari/605.1.15",
                           _V_IOS)),
    (4, "desktop", _agents(f"{_MAC} {_CHROME} Safari/537.36", _V_CHROME)),
    (0.7, "desktop", _agents("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 "
                             "Firefox/{v}.0", _V_FIREFOX)),
    (0.6, "desktop", _agents(f"Mozilla/5.0 (X11; Linux x86_64) {_CHROME} Safari/537.36", _V_CHROME)),
    (0.4, "desktop", _agents(f"{_WIN} {_CHROME} Safari/537.36 OPR/110.0.0.0", ("124",))),
    (0.1, "desktop", ("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",)),
    (24, "iphone", _agents(f"Mozilla/5.0 (iPhone; CPU iPhone OS {{v}} like Mac OS X) {_SAFARI_IOS}", _V_IOS)),
    (1.5, "iphone", _agents("Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 "
                            "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", _V_IOS)),
    (1.2, "iphone", ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 "
                     "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.109;FBBV/614234744;"
                     "FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5.1;FBSS/3;FBCR/;FBID/phone;FBLC/de_DE;FBOP/5]",
                     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                     "(KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone14,2; iOS 17_5; "
                     "en_GB; en-GB; scale=3.00; 1170x2532; 614158541)")),
    (16, "android", _agents(f"Mozilla/5.0 (Linux; Android {{m}}) {_CHROME} Mobile Safari/537.36", _V_CHROME,
                            ("10; K", "14; Pixel 8", "13; SM-A536B"))),
    (3.5, "android", _agents("Mozilla/5.0 (Linux; Android {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
                             "SamsungBrowser/{v}.0 Chrome/121.0.0.0 Mobile Safari/537.36", ("24", "25", "26"),
                             ("14; SAMSUNG SM-S918B", "13; SAMSUNG SM-A546B"))),
    (2.5, "ipad", _agents(f"Mozilla/5.0 (iPad; CPU OS {{v}} like Mac OS X) {_SAFARI_IOS}", _V_IOS)),
)
RESOLUTIONS = {
    "desktop": ("1920x1080", "1366x768", "1536x864", "1440x900", "2560x1440", "1280x720", "1600x900"),
    "iphone": ("390x844", "414x896", "375x812", "393x852", "430x932", "375x667"),
    "android": ("412x915", "360x800", "393x873", "384x854", "412x892"),
    "ipad": ("810x1080", "820x1180", "768x1024", "1024x1366"),
}

# --- where visitors come from (drawn on page loads; in-page events keep their page's) ------------
# Crawlers send no referrer: with them, about 13% of product views arrive with an empty one.
REFERRER_KINDS = (("direct", 9), ("internal", 42), ("search", 27.5), ("social", 8), ("email", 2.5),
                  ("paid", 4), ("other", 3))
SEARCH_REFERRERS = (("https://www.google.{g}/", 80), ("https://www.google.com/", 8),
                    ("https://www.bing.com/", 8), ("https://duckduckgo.com/", 2),
                    ("https://www.ecosia.org/", 1), ("https://search.yahoo.com/", 1))
SOCIAL_REFERRERS = (("https://www.facebook.com/", 30), ("https://l.facebook.com/", 15),
                    ("https://m.facebook.com/", 10), ("https://www.instagram.com/", 15),
                    ("https://l.instagram.com/", 8), ("https://www.pinterest.com/", 12),
                    ("https://www.tiktok.com/", 6), ("https://www.youtube.com/", 4))
EMAIL_REFERRERS = (("https://mail.google.com/", 40), ("https://outlook.live.com/", 25),
                   ("android-app://com.google.android.gm/", 13), ("https://email.t-online.de/", 8),
                   ("https://navigator-bs.gmx.net/", 8), ("https://webmail1.web.de/", 6))
OTHER_REFERRERS = (("https://www.idealo.de/", 30), ("https://www.trustpilot.com/", 25),
                   ("https://chatgpt.com/", 15), ("https://www.reddit.com/", 15),
                   ("https://www.glamira.com/", 15))
# Host noise seen in real current_url values ({s} storefront suffix, {d} the same dashed).
NOISY_HOSTS = (("dev1.glamira.{s}", 25), ("stage.glamira.com", 15), ("www.glamira.{s}.", 20),
               ("glamira.local", 10), ("www-glamira-{d}.translate.goog", 20), ("test.glamira.{s}", 10))
NOISY_HOST_SHARE = 0.005
BARE_HOST_SHARE = 0.03  # glamira.de instead of www.glamira.de

# Shopping intensity by local hour (0-23): quiet at night, peaks in the evening.
DIURNAL = (0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.32, 0.52, 0.72, 0.88, 0.98, 1.04,
           1.10, 1.10, 1.08, 1.04, 1.00, 1.00, 1.06, 1.18, 1.30, 1.32, 1.10, 0.68)
_NO_UTM: tuple[str | bool, str | bool] = (False, False)
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
    utm: tuple[str | bool, str | bool] = _NO_UTM
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
        google = _GOOGLE_TLD.get(sf.suffix, sf.suffix)
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
        query, v.utm = "", _NO_UTM
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
        alloy = _ALLOY_BY_BITS[b & 15][0]
        stone = _STONE_BY_BITS[b >> 4 & 15][0]
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
            options.append(_option("alloy", alloy_option, _ALLOY_BY_BITS[b >> 18 & 15][2], "", b >> 22 & 15))
            if b >> 26 & 15 < 11:
                options.append(_option("diamond", stone_option, _STONE_BY_BITS[b >> 30 & 15][2], "", b >> 34 & 15))
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
