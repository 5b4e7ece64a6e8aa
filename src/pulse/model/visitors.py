"""Who a visitor is (pure): the pseudonymous device id, else a daily-rotating keyed hash (as Plausible does).

A visitor is the keyed hash of the device id the tracker sends (`device_hash`, the same value the facts
keep). An event without a device id falls back to the keyed hash of (UTC day, truncated IP, user agent,
storefront host): the day in the hashed text rotates the pseudonym at UTC midnight, so no visitor can be
followed across days, and nothing raw is kept. Bots and noise hosts (staging, proxies) have no visitor.
"""

from __future__ import annotations

from datetime import date

from pulse.enrich.privacy import keyed_hash


def visitor_id(
    device_hash: str | None, ip_truncated: str | None, user_agent: str | None, host: str | None, day: date,
    key: bytes,
) -> str | None:
    """The visitor of one event, or None when it carries nothing to tell one visitor from another."""
    if device_hash:
        return device_hash
    if not ip_truncated and not user_agent:
        return None
    return keyed_hash("\x1f".join(("visitor", day.isoformat(), ip_truncated or "", user_agent or "", host or "")),
                      key)
