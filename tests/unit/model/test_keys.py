"""Bounded keys: values that reach an index stay within MAX_KEY_BYTES, distinct and deterministic."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.events.limits import FIELD_LIMITS
from pulse.model.keys import MAX_KEY_BYTES, bounded_key

BTREE_MAX_ROW_BYTES = 2704  # PostgreSQL's limit for one btree index row


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def test_values_that_fit_are_returned_unchanged() -> None:
    assert bounded_key(None) is None
    assert bounded_key("") == ""
    exactly = "a" * MAX_KEY_BYTES
    assert bounded_key(exactly) is exactly
    four_byte = "\U0001f48d" * (MAX_KEY_BYTES // 4)  # 💍: 4 bytes each, exactly the limit
    assert bounded_key(four_byte) is four_byte


def test_a_long_value_becomes_a_prefix_an_ellipsis_and_a_digest_of_the_whole_value() -> None:
    url = "https://www.google.com/search?q=" + "x" * 7_900  # the size of the referrer in the incident
    key = bounded_key(url)
    digest = hashlib.blake2b(url.encode(), digest_size=8).hexdigest()
    assert key == url[: MAX_KEY_BYTES - 3 - 16] + "\u2026" + digest  # "…" is 3 bytes in UTF-8
    assert _size(key) == MAX_KEY_BYTES
    assert bounded_key(url) == key, "deterministic"


def test_long_values_with_the_same_prefix_stay_distinct() -> None:
    base = "https://example.com/" + "p" * 1000
    keys = {bounded_key(base + tail) for tail in ("a", "b", "/", "?x=1", "")}
    assert len(keys) == 5


@pytest.mark.parametrize("char", ["a", "é", "€", "\U0001f48d"])
def test_multi_byte_characters_are_never_split(char: str) -> None:
    for length in range(MAX_KEY_BYTES // len(char.encode()) - 2, MAX_KEY_BYTES + 3):
        key = bounded_key("x" + char * length)
        assert _size(key) <= MAX_KEY_BYTES
        key.encode("utf-8")  # whole characters only: an error here would mean a split one


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=3000))
def test_any_text_gives_a_key_within_the_limit_that_keeps_short_values(text: str) -> None:
    key = bounded_key(text)
    assert _size(key) <= MAX_KEY_BYTES
    if _size(text) <= MAX_KEY_BYTES:
        assert key == text
    else:
        assert key != text and key.endswith(hashlib.blake2b(text.encode(), digest_size=8).hexdigest())


def test_the_widest_rollup_key_fits_a_btree_row() -> None:
    # rollup_browser_os: bucket, collection, is_bot, browser, os - three bounded texts and fixed columns
    widest = 3 * MAX_KEY_BYTES + 8 + 1 + 64
    assert widest < BTREE_MAX_ROW_BYTES
    # ids and collections never need shortening: their character limits fit the key in any script
    assert 4 * FIELD_LIMITS["product_id"].max_chars <= MAX_KEY_BYTES
    assert 4 * FIELD_LIMITS["collection"].max_chars <= MAX_KEY_BYTES
