"""Tests for the privacy enricher: keyed hashes, e-mail normalisation, IP truncation and redaction of free text."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pulse.enrich.privacy import (
    HASH_HEX_LENGTH,
    email_marker,
    keyed_hash,
    normalize_email,
    pseudonymize_email,
    redact,
    redact_json,
    redact_text,
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


# ------------------------------------------------------------------ redaction of free text
def marker(address: str) -> str:
    """Independent reference: "[email:" + the first 12 hex of HMAC-SHA256(lower-cased address) + "]"."""
    return f"[email:{expected_hash(address.strip().lower())[:12]}]"


JOHN = marker("john@example.com")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("john@example.com", JOHN),
        ("write to John@Example.COM today", f"write to {JOHN} today"),
        ("mailto:john@example.com?subject=hi", f"mailto:{JOHN}?subject=hi"),
        ("a@b.com,c@d.org", f"{marker('a@b.com')},{marker('c@d.org')}"),
        ("john+rings@example.com", marker("john+rings@example.com")),
        ("ü@bücher.de", marker("ü@bücher.de")),
        ("john@example.com.", f"{JOHN}."),
        ("time_stamp 'john@example.com' is not a number", f"time_stamp '{JOHN}' is not a number"),
        ('{"to": "john@example.com"}', f'{{"to": "{JOHN}"}}'),
        # URL-encoded: %40, double-encoded %2540, %2B for "+", an escape right before the address
        ("https://www.glamira.de/?email=john%40example.com&x=1", f"https://www.glamira.de/?email={JOHN}&x=1"),
        ("q=john%2540example.com", f"q={JOHN}"),
        ("u=john%2Brings%40example.com", f"u={marker('john+rings@example.com')}"),
        ("q=ring%20john%40example.com", f"q=ring%20{JOHN}"),
        ("%3Cjohn%40example.com%3E", f"%3C{JOHN}%3E"),
        # URL credentials leave the authority, the rest of the URL stays
        ("https://user:secret@www.google.com/search?q=ring", "https://www.google.com/search?q=ring"),
        ("https://user@www.google.de/", "https://www.google.de/"),
        ("http://john@example.com:pw@glamira.de/x", "http://glamira.de/x"),
        ("//admin:hunter2@intranet.local/", "//intranet.local/"),
        ("https%3A%2F%2Fuser%3Asecret%40localhost%2Fx", "https%3A%2F%2Flocalhost%2Fx"),
        ("https://user:pw@203.0.113.17:8080/a", "https://203.0.113.0:8080/a"),
        # IPv4 in text, in URLs, after a percent escape; a 4-part version counts as an address
        ("client 203.0.113.17 said hi", "client 203.0.113.0 said hi"),
        ("http://198.51.100.23/landing?ip=10.1.2.3", "http://198.51.100.0/landing?ip=10.1.2.0"),
        ("ip:192.0.2.55.", "ip:192.0.2.0."),
        ("search%20203.0.113.17", "search%20203.0.113.0"),
        ("version 1.2.3.4", "version 1.2.3.0"),
        ("010.001.002.003", "10.1.2.0"),
        # IPv6: compressed, full, bracketed with a port, with a zone, IPv4-mapped, percent-encoded
        ("from 2001:db8:85a3::8a2e:370:7334 ok", "from 2001:db8:85a3:: ok"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::"),
        ("http://[2001:db8:1:2::1]:443/", "http://[2001:db8:1::]:443/"),
        ("fe80::1%eth0", "fe80::%eth0"),
        ("::ffff:203.0.113.17", "203.0.113.0"),
        ("::1", "::"),
        ("ip=2001%3Adb8%3A85a3%3A%3A1&x=1", "ip=2001%3Adb8%3A85a3%3A%3A&x=1"),
    ],
)
def test_redact_text_hand_checked(text: str, redacted: str) -> None:
    assert redact_text(text, KEY) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "2020-06-04 6:20:56",  # unpadded local_time
        "6:20:56",
        "12:30",
        "1.2.3",  # a version
        "Chrome/124.0.6367.118",
        "1.2.3.4.5",  # five parts: not an address
        "256.1.2.3",
        "4.990,00",  # locale-formatted prices
        "1,880.00",
        "96672",
        "skug100335",
        "390x844",
        "aa:bb:cc:dd:ee:ff",  # six groups: not an IPv6 address
        "1:2:3:4:5:6:7:8:9",
        "std::vector",
        "https://www.glamira.de/glamira-ring-saphira-skug100335.html?alloy=white-375&diamond=sapphire",
        "https://medium.com/@glamira",  # a handle, not an address
        "john@localhost",  # no domain
        "@example.com",
        "[email:0123456789ab]",
        "",
        "Mobile Safari",
    ],
)
def test_redact_text_leaves_lookalikes_unchanged(text: str) -> None:
    assert redact_text(text, KEY) == text


def test_email_marker_is_the_start_of_the_email_hash() -> None:
    digest = pseudonymize_email("John@Example.com", KEY)
    assert digest is not None
    assert email_marker("john@example.com", KEY) == f"[email:{digest[:12]}]" == JOHN
    assert redact_text("JOHN@example.com", KEY) == redact_text("john%40example.com", KEY) == JOHN
    assert redact_text("john@example.com", b"another key, another marker") != JOHN


def test_redact_leaves_none_and_keeps_the_same_object_when_clean() -> None:
    assert redact(None, KEY) is None
    clean = "view_product_detail"
    assert redact(clean, KEY) is clean


def test_redact_json_walks_keys_and_values_at_any_depth() -> None:
    doc = {
        "john@example.com": "subscribed",
        "nested": [{"ip": "203.0.113.17", "deeper": {"x": ["mail me at jane@example.org"]}}],
        "plain": 4.5,
        "flag": True,
        "none": None,
        "ref": "https://u:p@example.com/",
        "multi\nline john@example.com": "a\tb",
    }
    out = json.loads(redact_json(json.dumps(doc), KEY) or "")
    assert out == {
        JOHN: "subscribed",
        "nested": [{"ip": "203.0.113.0", "deeper": {"x": [f"mail me at {marker('jane@example.org')}"]}}],
        "plain": 4.5,
        "flag": True,
        "none": None,
        "ref": "https://example.com/",
        f"multi\nline {JOHN}": "a\tb",
    }


def test_redact_json_sees_through_escapes() -> None:
    # Control characters are escaped in JSON (\u0001): the address after one is still found in the value.
    text = json.dumps({"k": "\x01203.0.113.17", "e": "\x02john@example.com"})
    assert json.loads(redact_json(text, KEY) or "") == {"k": "\x01203.0.113.0", "e": f"\x02{JOHN}"}


@pytest.mark.parametrize("text", ['{"a":1,"b":"2","c":[1,2,3]}', '[["alloy","white-375"]]', "null"])
def test_redact_json_returns_clean_documents_as_they_are(text: str) -> None:
    assert redact_json(text, KEY) is text
    assert redact_json(None, KEY) is None


def test_redaction_is_cheap_on_hostile_text() -> None:
    # Far below a second each (a linear scan): the engine must never stall on one message. Not a timing
    # benchmark: a quadratic scan takes tens of seconds here, a linear one milliseconds.
    for hostile in ("a" * 8000 + "@", "@" * 8000, "a@" * 4000, "x@" + "b." * 4000, "1." * 4000, "::" * 4000,
                    "%40" * 2700, "//a@" * 2000, "1:" * 4000 + "1.2.3.4"):
        started = time.perf_counter()
        redact_text(hostile, KEY)
        assert time.perf_counter() - started < 1.0, hostile[:20]


@given(st.emails())
def test_any_email_in_text_is_replaced_by_its_marker(address: str) -> None:
    # Local parts with URL separators or quotes (/ ? & = % ' ` * { | }) are out of scope: the part after
    # the last one is redacted alone.
    assume(re.fullmatch(r"[\w.+\-!#$^~]{1,64}", address.partition("@")[0]))
    out = redact_text(f"contact: {address} (work)", KEY)
    assert address not in out
    assert out == f"contact: {marker(address)} (work)"


@given(st.ip_addresses(v=4))
def test_any_ipv4_in_text_is_truncated(address: ipaddress.IPv4Address) -> None:
    out = redact_text(f"ip={address}&x=1", KEY)
    assert out == f"ip={ipaddress.ip_network(f'{address}/24', strict=False).network_address}&x=1"


@given(st.ip_addresses(v=6))
def test_any_ipv6_in_text_is_truncated(address: ipaddress.IPv6Address) -> None:
    assume(address.ipv4_mapped is None)
    out = redact_text(f"from {address} ok", KEY)
    assert out == f"from {ipaddress.ip_network(f'{address}/48', strict=False).network_address} ok"


@given(st.text(max_size=200))
def test_redaction_is_idempotent_and_never_raises(value: str) -> None:
    once = redact_text(value, KEY)
    assert redact_text(once, KEY) == once


def test_redact_json_reaches_the_deepest_storable_level() -> None:
    # orjson writes up to 254 levels (deeper unmodelled fields are rejected as too_deep before this step).
    doc: object = "john@example.com"
    for _ in range(250):
        doc = [doc]
    out = json.loads(redact_json(json.dumps(doc), KEY) or "")
    for _ in range(250):
        out = out[0]
    assert out == JOHN
