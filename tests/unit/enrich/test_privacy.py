"""Tests for the privacy enricher: keyed hashes, e-mail normalisation and IP truncation."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pulse.enrich.privacy import (
    HASH_HEX_LENGTH,
    keyed_hash,
    normalize_email,
    pseudonymize_email,
    truncate_ip,
)

KEY = b"test-key-not-for-production"


def expected_hash(value: str, key: bytes = KEY) -> str:
    """Independent reference: the full HMAC-SHA256 hex digest, cut to 32 characters."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize(
    "value", ["alice@example.com", "5a1d2c3b-0000-4c5d-8e9f-000000000001", "ü@bücher.de", "x"]
)
def test_keyed_hash_is_truncated_hmac_sha256(value: str) -> None:
    assert keyed_hash(value, KEY) == expected_hash(value)


def test_keyed_hash_known_vector() -> None:
    # Computed once with: hmac.new(b"key", b"The quick brown fox jumps over the lazy dog", sha256)
    fox = "The quick brown fox jumps over the lazy dog"
    assert keyed_hash(fox, b"key") == "f7bc83f430538424b13298e6aa6fb143"


def test_keyed_hash_shape_and_determinism() -> None:
    digest = keyed_hash("alice@example.com", KEY)
    assert digest is not None
    assert len(digest) == HASH_HEX_LENGTH == 32
    assert int(digest, 16) >= 0
    assert digest == keyed_hash("alice@example.com", KEY)


def test_keyed_hash_depends_on_the_key() -> None:
    assert keyed_hash("alice@example.com", KEY) != keyed_hash("alice@example.com", b"another key")
    assert keyed_hash("alice@example.com", KEY) != hashlib.sha256(b"alice@example.com").hexdigest()[:32]


@pytest.mark.parametrize("value", [None, "", 123, b"alice@example.com"])
def test_keyed_hash_of_nothing_is_none(value: object) -> None:
    assert keyed_hash(value, KEY) is None  # type: ignore[arg-type]


def test_keyed_hash_survives_lone_surrogates() -> None:
    digest = keyed_hash("bad\ud800decode", KEY)
    assert digest is not None and len(digest) == 32


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob@example.org \n", "bob@example.org"),
        ("not-an-email", "not-an-email"),  # still personal data: kept and hashed
        ("   ", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_normalize_email(raw: object, normalized: str | None) -> None:
    assert normalize_email(raw) == normalized  # type: ignore[arg-type]


def test_pseudonymize_email_hashes_the_normalized_address() -> None:
    assert pseudonymize_email("  Alice@Example.COM ", KEY) == expected_hash("alice@example.com")
    assert pseudonymize_email("alice@example.com", KEY) == pseudonymize_email("ALICE@example.com", KEY)
    assert pseudonymize_email("", KEY) is None
    assert pseudonymize_email(None, KEY) is None


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("203.0.113.17", "203.0.113.0"),
        ("203.0.113.0", "203.0.113.0"),
        ("198.51.100.255", "198.51.100.0"),
        (" 8.8.8.8 ", "8.8.8.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2A00:1450:4001:82A::200E", "2a00:1450:4001::"),
        ("::1", "::"),
        ("fe80::1%eth0", "fe80::"),
        ("::ffff:203.0.113.17", "203.0.113.0"),
    ],
)
def test_truncate_ip(ip: str, truncated: str) -> None:
    assert truncate_ip(ip) == truncated


@pytest.mark.parametrize(
    "ip",
    [None, "", "  ", "garbage", "256.1.1.1", "1.2.3", "203.0.113.17/24", "203.0.113.17:80", "x" * 100, 7],
)
def test_truncate_invalid_ip_is_none(ip: object) -> None:
    assert truncate_ip(ip) is None  # type: ignore[arg-type]


@given(st.ip_addresses(v=4))
def test_truncated_ipv4_is_the_slash_24_network(address: ipaddress.IPv4Address) -> None:
    expected = ipaddress.ip_network(f"{address}/24", strict=False).network_address
    assert truncate_ip(str(address)) == str(expected)


@given(st.ip_addresses(v=6))
def test_truncated_ipv6_is_the_slash_48_network(address: ipaddress.IPv6Address) -> None:
    assume(address.ipv4_mapped is None)
    expected = ipaddress.ip_network(f"{address}/48", strict=False).network_address
    assert truncate_ip(str(address)) == str(expected)


@given(st.ip_addresses())
def test_truncation_is_idempotent(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    once = truncate_ip(str(address))
    assert once is not None
    assert truncate_ip(once) == once


@given(st.text(max_size=100), st.binary(max_size=64))
def test_arbitrary_text_never_raises(value: str, key: bytes) -> None:
    digest = keyed_hash(value, key)
    assert digest is None if not value else len(digest or "") == 32
    normalize_email(value)
    pseudonymize_email(value, key)
    truncate_ip(value)
