"""Build tiny geo-IP databases (.mmdb and IP2Location .BIN) for tests."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["build_test_ip2location_bin", "build_test_mmdb", "city_record", "write_mmdb"]


def city_record(
    country_code: str | None = None,
    country_name: str | None = None,
    region: str | None = None,
    city: str | None = None,
) -> dict[str, Any]:
    """A record in the GeoLite2-City / DB-IP City layout holding only the fields that are set."""
    record: dict[str, Any] = {}
    if country_code or country_name:
        country: dict[str, Any] = {}
        if country_code:
            country["iso_code"] = country_code
        if country_name:
            country["names"] = {"en": country_name}
        record["country"] = country
    if region:
        record["subdivisions"] = [{"names": {"en": region}}]
    if city:
        record["city"] = {"names": {"en": city}}
    return record


def write_mmdb(
    path: Path,
    records: Mapping[str, Mapping[str, Any]],
    *,
    ip_version: int = 6,
    database_type: str = "GeoLite2-City",
) -> Path:
    """Write `records` ({"203.0.113.0/24": {...raw record...}}) as a MaxMind DB file at `path`.

    With ip_version=6 (the default, like GeoLite2) IPv4 networks are stored IPv4-compatibly
    (::a.b.c.d/96+n), where MaxMind readers look IPv4 addresses up. Needs the test-only
    `mmdb-writer` package.
    """
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en"],
        description="pulse test database",
        ipv4_compatible=ip_version == 6,
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), dict(record))
    writer.to_db_file(str(path))
    return path


def build_test_mmdb(
    path: Path,
    networks: Mapping[str, Mapping[str, Any]],
    *,
    ip_version: int = 6,
    database_type: str = "GeoLite2-City",
) -> Path:
    """Write a City-layout .mmdb from flat specs and return its path.

    `networks` maps a CIDR to {"country_code", "country_name", "region", "city"} (each optional):
    {"203.0.113.0/24": {"country_code": "CL", "country_name": "Chile", "region": "Santiago
    Metropolitan", "city": "Santiago"}}.
    """
    records = {
        network: city_record(
            country_code=spec.get("country_code"),
            country_name=spec.get("country_name"),
            region=spec.get("region"),
            city=spec.get("city"),
        )
        for network, spec in networks.items()
    }
    return write_mmdb(path, records, ip_version=ip_version, database_type=database_type)


# IP2Location DB3 (country, region, city): header, then rows of [ip_from, country, region, city]
# as little-endian uint32 (the text columns point at length-prefixed Latin-1 strings).
_IP2LOCATION_HEADER_SIZE = 64
_DB3_TYPE = 3
_DB3_COLUMNS = 4
_MAX_IPV4 = 0xFFFF_FFFF


def build_test_ip2location_bin(
    path: Path, networks: Mapping[str, Mapping[str, Any]], *, built: date = date(2024, 5, 1)
) -> Path:
    """Write an IPv4 IP2Location DB3 .BIN with the same flat specs as `build_test_mmdb`.

    Address space outside `networks` gets IP2Location's "-" placeholders, as in the LITE files.
    Networks must not overlap.
    """
    ranges = sorted(
        (int(net.network_address), int(net.broadcast_address), spec)
        for net, spec in ((ipaddress.IPv4Network(cidr), spec) for cidr, spec in networks.items())
    )
    rows: list[tuple[int, str, str, str, str]] = []
    cursor = 0
    for start, end, spec in ranges:
        if start < cursor:
            raise ValueError(f"overlapping networks at {ipaddress.IPv4Address(start)}")
        if start > cursor:
            rows.append((cursor, "-", "-", "-", "-"))
        rows.append((
            start,
            spec.get("country_code") or "-",
            spec.get("country_name") or "-",
            spec.get("region") or "-",
            spec.get("city") or "-",
        ))
        cursor = end + 1
    if cursor <= _MAX_IPV4:
        rows.append((cursor, "-", "-", "-", "-"))
    count = len(rows)
    # Two sentinel rows: the reader takes a row's upper bound from the next row's ip_from.
    rows += [(_MAX_IPV4, "-", "-", "-", "-")] * 2

    row_size = _DB3_COLUMNS * 4
    strings = bytearray()
    strings_start = _IP2LOCATION_HEADER_SIZE + len(rows) * row_size
    offsets: dict[tuple[str, ...], int] = {}

    def pointer(*texts: str) -> int:
        if texts not in offsets:
            offsets[texts] = strings_start + len(strings)
            for index, text in enumerate(texts):
                raw = text.encode("latin-1", "replace")[:255]
                if index == 0 and len(texts) > 1:
                    raw_field = raw.ljust(2, b" ")  # the long name starts 3 bytes after the code
                else:
                    raw_field = raw
                strings.extend(bytes([len(raw)]) + raw_field)
        return offsets[texts]

    body = bytearray()
    for ip_from, code, name, region, city in rows:
        body += struct.pack("<IIII", ip_from, pointer(code, name), pointer(region), pointer(city))
    header = struct.pack(
        "<BBBBBIIIIIIBBB",
        _DB3_TYPE, _DB3_COLUMNS, built.year % 100, built.month, built.day,
        count, _IP2LOCATION_HEADER_SIZE + 1, 0, 0, 0, 0,
        1, 0, 0,
    )
    path.write_bytes(header.ljust(_IP2LOCATION_HEADER_SIZE, b"\0") + body + strings)
    return path
