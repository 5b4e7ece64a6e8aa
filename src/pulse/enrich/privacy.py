"""Privacy enricher: keyed pseudonyms, truncated IP addresses, and redaction of personal data in free text."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote

import orjson

__all__ = [
    "EMAIL_MARKER_HEX_LENGTH",
    "HASH_HEX_LENGTH",
    "REDACT_CACHE_MAX_CHARS",
    "REDACT_CACHE_SIZE",
    "email_marker",
    "keyed_hash",
    "normalize_email",
    "pseudonymize_email",
    "redact",
    "redact_json",
    "redact_text",
    "truncate_ip",
]

# 32 hex characters = 128 bits of HMAC-SHA256. Pseudonyms only need to join a person's events
# without collisions: at a billion distinct values the chance of any collision is about 1e-21,
# and half the storage and index size of the full 64-character digest.
HASH_HEX_LENGTH = 32
_HASH_BYTES = HASH_HEX_LENGTH // 2

_IPV4_KEEP_MASK = 0xFFFF_FF00  # /24: the last octet goes
_IPV6_KEEP_MASK = ((1 << 48) - 1) << 80  # /48: a site prefix, not a household or a device


def keyed_hash(value: str | None, key: bytes) -> str | None:
    """HMAC-SHA256 of `value` under `key`, as the first 32 hex characters; None for None or "".

    Keyed, so the pseudonym cannot be reversed by hashing a list of known e-mails without the key.
    The same value and key always give the same pseudonym, so events of one person still join.
    """
    if not value or not isinstance(value, str):
        return None
    return _keyed_hash(value, key)


@lru_cache(maxsize=65536)
def _keyed_hash(value: str, key: bytes) -> str:
    # Device ids and e-mails repeat across a visitor's events, hence the cache; copying a keyed
    # template skips OpenSSL's per-call HMAC setup (about 3 of the 5 microseconds of hmac.new).
    mac = _hmac_template(key).copy()
    # surrogatepass: a badly decoded string still hashes deterministically instead of raising.
    mac.update(value.encode("utf-8", "surrogatepass"))
    return mac.digest()[:_HASH_BYTES].hex()


@lru_cache(maxsize=8)
def _hmac_template(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def normalize_email(value: str | None) -> str | None:
    """`value` stripped and lower-cased; None when empty.

    Values without "@" are kept: a mistyped address still identifies a person, so it is hashed
    like any other. Provider-specific aliases (dots, "+tags") are not folded.
    """
    if not value or not isinstance(value, str):
        return None
    return value.strip().lower() or None


def pseudonymize_email(value: str | None, key: bytes) -> str | None:
    """The keyed hash of the normalized e-mail address: what the warehouse stores instead of it."""
    return keyed_hash(normalize_email(value), key)


def truncate_ip(ip: str | None) -> str | None:
    """`ip` with the host part zeroed: IPv4 to its /24 ("203.0.113.0"), IPv6 to its /48; None if invalid.

    An IPv4-mapped IPv6 address (::ffff:203.0.113.7) is treated as the IPv4 address it carries.
    """
    if not ip or not isinstance(ip, str) or len(ip) > 64:
        return None
    return _truncate_ip(ip)


@lru_cache(maxsize=16384)
def _truncate_ip(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return str(ipaddress.IPv6Address(int(address) & _IPV6_KEEP_MASK))
        address = address.ipv4_mapped
    return str(ipaddress.IPv4Address(int(address) & _IPV4_KEEP_MASK))


# ------------------------------------------------------------------ redaction of free text
# As Google Analytics' data redaction and Snowplow's PII enrichment do: every string the warehouse keeps
# passes here. E-mail addresses become `[email:<12 hex>]` (the start of their email_hash: one address, one
# marker), IP addresses their truncated network (as ip_truncated), and URL credentials are removed.
EMAIL_MARKER_HEX_LENGTH = 12
# Repeated values (referrers, URLs, option lists) hit the cache; values longer than this are redacted
# every time instead of being cached, which bounds the cache at about 8192 x 2 x 1024 characters.
REDACT_CACHE_SIZE = 8192
REDACT_CACHE_MAX_CHARS = 1024

# `user:pass@` / `user@` in the authority of a URL, plain or percent-encoded (a URL inside a query string).
_CREDENTIALS = re.compile(r"(?<!/)(//)[^\s/?#\"\\<>{}\[\]|^`]+@")
_ENCODED_CREDENTIALS = re.compile(
    r"(?<!%2[Ff])(%2[Ff]%2[Ff])(?:[^\s%/?#&=\"\\<>]|%(?!2[Ff]|3[Ff]|23|40)[0-9A-Fa-f]{2})+(?:%40|%2540)"
)
# local@domain.tld, with "@" also as %40 or %2540 and "+" also as %2B. Found from each "@" outwards (the
# local part by a reversed pattern), so hostile text costs a bounded scan per "@", never one per position.
# The local part takes RFC 5322's characters except those that separate URL parts (/ ? & = %) or quote
# in text (' ` * { | }): in `?email=john@x.com` and `'john@x.com'` the address is john's.
_AT = re.compile(r"@|%40|%2540")
_LOCAL_PART_REVERSED = re.compile(r"(?:[Bb]2%|[\w.+\-!#$^~]){1,64}")
_DOMAIN = re.compile(r"(?:[\w-]{1,63}\.){1,126}(?:[Xx][Nn]--[\w-]{1,59}|[^\W\d_]{2,63})")
_MAX_LOCAL_PART_CHARS = 3 * 64
# Candidates only: each is validated before anything changes (6:20:56, 1.2.3 and aa:bb:cc stay). A dotted
# number that continues (1.2.3.4.5, 11.1.2.3.4) is not an address: the replacement checks what precedes a
# candidate (so the pattern starts with a digit, which the regex engine scans for quickly); one after a word
# and a dot (ip.1.2.3.4) or after a percent escape (%201.2.3.4: " 1.2.3.4") is an address.
_DIGITS = frozenset("0123456789")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9]|\.[0-9])")
_IPV6 = re.compile(
    r"(?:(?<![\w%.])(?<![0-9A-Fa-f:]:)|(?<=%[0-9A-Fa-f]{2}))"
    r"(?:[0-9A-Fa-f]{1,4}|(?=:|%3[Aa]))(?:(?::|%3[Aa])[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![\w:]|\.[0-9])"
)


def redact_text(value: str, key: bytes) -> str:
    """`value` with e-mail addresses, IP addresses and URL credentials redacted; unchanged when it has none.

    E-mails (also percent-encoded, `%40`) become `[email:<first 12 hex of their email_hash>]`; IPv4 and IPv6
    addresses become their truncated network (/24, /48); `user:pass@` and `user@` leave URL authorities.
    Idempotent. Cheap: most strings are passed by a prefilter, and repeated ones come from a bounded cache.
    """
    # The common case, decided inline (a call costs more than these tests); `in` before the slower `count`.
    if (
        "@" not in value and "%" not in value and ("." not in value or value.count(".") < 3)
        and (":" not in value or ("::" not in value and value.count(":") < 7))
    ):
        return value
    return _redact_suspect(value, key)


def redact(value: str | None, key: bytes) -> str | None:
    """`redact_text` for an optional value (None stays None)."""
    if value is None or (
        "@" not in value and "%" not in value and ("." not in value or value.count(".") < 3)
        and (":" not in value or ("::" not in value and value.count(":") < 7))
    ):
        return value
    return _redact_suspect(value, key)


def redact_json(text: str | None, key: bytes) -> str | None:
    """A JSON document (as text) with every string in it - keys and values, at any depth - redacted."""
    if text is None or not _may_hold_personal_data(text):
        return text  # "@", "%", "." and ":" are never escaped in JSON: the prefilter sees every string in it
    if len(text) > REDACT_CACHE_MAX_CHARS:
        return _redact_json(text, key)
    return _redact_json_cached(text, key)


def email_marker(address: str, key: bytes) -> str:
    """The marker that replaces an e-mail address in free text: `[email:` + start of its email_hash + `]`."""
    digest = pseudonymize_email(address, key) or ""
    return f"[email:{digest[:EMAIL_MARKER_HEX_LENGTH]}]"


def _may_hold_personal_data(value: str) -> bool:
    """The prefilter: False when `value` cannot hold an e-mail, an IP address or URL credentials.

    An e-mail or credentials need "@" (or %40); an IPv4 address three dots; an IPv6 address "::" or seven
    colons (JSON's `":` separators do not count); their percent-encoded forms a "%".
    """
    return (
        "@" in value
        or ("%" in value and ("%40" in value or "%2540" in value or "%3A" in value or "%3a" in value))
        or value.count(".") >= 3
        or (":" in value and ("::" in value or value.count(":") - value.count('":') >= 7))
    )


def _redact_suspect(value: str, key: bytes) -> str:
    if not _may_hold_personal_data(value):
        return value
    if len(value) > REDACT_CACHE_MAX_CHARS:
        return _redact(value, key)
    return _redact_cached(value, key)


@lru_cache(maxsize=REDACT_CACHE_SIZE)
def _redact_cached(value: str, key: bytes) -> str:
    return _redact(value, key)


def _redact(value: str, key: bytes) -> str:
    text = value
    if "@" in text or "%40" in text or "%2540" in text:
        text = _CREDENTIALS.sub(r"\1", text)
        text = _ENCODED_CREDENTIALS.sub(r"\1", text)
        text = _redact_emails(text, key)
    if (":" in text and ("::" in text or text.count(":") - text.count('":') >= 7)) or "%3A" in text or "%3a" in text:
        text = _replace_addresses(_IPV6, text, _ipv6_replacement)
    if text.count(".") >= 3:
        text = _replace_addresses(_IPV4, text, _ipv4_replacement)
    return value if text == value else text


def _replace_addresses(pattern: re.Pattern[str], text: str, replacement: Callable[[re.Match[str]], str | None]) -> str:
    """Each candidate of `pattern` replaced by `replacement`; a candidate it refuses (None) is searched
    again from its second character, so an address inside a refused candidate (%2012.1.2.3) is still found."""
    parts: list[str] = []
    done = pos = 0
    while (match := pattern.search(text, pos)) is not None:
        replaced = replacement(match)
        if replaced is None:
            pos = match.start() + 1
            continue
        parts += (text[done : match.start()], replaced)
        done = pos = match.end()
    return "".join(parts) + text[done:] if parts else text


def _redact_emails(text: str, key: bytes) -> str:
    parts: list[str] = []
    done = 0  # text before this index is settled
    for at in _AT.finditer(text):
        if at.start() < done:
            continue
        domain = _DOMAIN.match(text, at.end())
        if domain is None:
            continue
        window = text[max(done, at.start() - _MAX_LOCAL_PART_CHARS) : at.start()]
        local = _LOCAL_PART_REVERSED.match(window[::-1])
        if local is None:
            continue
        start = at.start() - local.end()
        if start > 0 and text[start - 1] == "%":
            start += 2  # the local part began inside a percent escape: %20john%40... is john's address
        if start >= at.start():
            continue
        address = text[start : domain.end()].replace("%2540", "@")
        if "%" in address:
            address = unquote(address)
        parts += (text[done:start], email_marker(address, key))
        done = domain.end()
    return "".join(parts) + text[done:] if parts else text


def _ipv4_replacement(match: re.Match[str]) -> str | None:
    text, start = match.string, match.start()
    before = text[max(0, start - 3) : start]
    if before[-1:] in _DIGITS and not (len(before) == 3 and before[0] == "%"):
        return None  # inside a longer number (11.1.2.3.4), unless after an escape (%201.2.3.4)
    if before[-1:] == "." and before[-2:-1] in _DIGITS:
        return None  # the tail of a longer dotted number (1.1.2.3.4)
    octets = [int(part) for part in match.groups()]
    if max(octets) > 255:
        return None
    return f"{octets[0]}.{octets[1]}.{octets[2]}.0"


def _ipv6_replacement(match: re.Match[str]) -> str | None:
    candidate = match.group()
    encoded = "%" in candidate
    if encoded:
        candidate = candidate.replace("%3A", ":").replace("%3a", ":")
    truncated = truncate_ip(candidate) if ":" in candidate else None
    if truncated is None:
        return None
    return truncated.replace(":", "%3A") if encoded else truncated


@lru_cache(maxsize=REDACT_CACHE_SIZE // 4)
def _redact_json_cached(text: str, key: bytes) -> str:
    return _redact_json(text, key)


def _redact_json(text: str, key: bytes) -> str:
    return orjson.dumps(_redact_value(orjson.loads(text), key)).decode()


def _redact_value(value: object, key: bytes) -> object:
    if isinstance(value, str):
        return redact_text(value, key)
    if isinstance(value, dict):
        return {redact_text(k, key): _redact_value(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, key) for v in value]
    return value
