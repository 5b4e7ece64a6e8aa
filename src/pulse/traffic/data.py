"""The tables behind the synthetic traffic: event mix, storefronts, languages, browsers, referrers, rhythm."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

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
GOOGLE_TLD = {"in": "co.in", "sg": "com.sg", "africa": "com", "ph": "com.ph"}
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
ALLOY_BY_BITS = [ALLOYS[i % len(ALLOYS)] for i in range(16)]
STONE_BY_BITS = [STONES[i % len(STONES)] for i in range(16)]


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
NO_UTM: tuple[str | bool, str | bool] = (False, False)
