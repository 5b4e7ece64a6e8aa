"""Visits (sessions): a visitor's run of events with no gap over PULSE_SESSION_GAP_MINUTES (pure).

A visit is a value that merges: the visits of a visitor are non-overlapping intervals at least one gap
apart, and adding events (a batch, a late event, a replay of other partitions) can only join them. So the
sessions of any set of events are `sessionize` of its single-event visits, in any order and in any split
into batches: the warehouse keeps the visits, and a batch re-sessionizes the visits its events can touch
together with its events (warehouse/sessions.py). A late event that bridges two visits merges them; one
that falls between them is a visit of its own, or extends the nearer one.

What a visit records, and how two merge (the earlier one is `a`):
- start, end, events, page views (`view_*` collections), entry page (the path of the earliest event) and
  exit page (of the latest), the landing storefront, device type, referrer and UTM values (of the earliest);
- the funnel `view_product_detail -> add_to_cart_action -> checkout -> checkout_success` IN ORDER: the
  visit reaches step k when an event of step k follows the moment it reached step k-1. Kept as the first
  product view and the earliest MAX_STEP_TIMES times of each later step, which is what that greedy reading
  needs (a visit with more carts than that before its first product view is the documented limit).
The landing UTM values are bounded keys (model/keys.py): they are part of rollup_visit_day's primary key, and
three 512-character values of 4-byte characters would not fit a btree entry.
A bounce is a visit with at most one page view. Duration is end - start (a one-event visit lasts 0 s).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pulse.model.keys import bounded_key

FUNNEL = ("view_product_detail", "add_to_cart_action", "checkout", "checkout_success")
MAX_STEP_TIMES = 32


def is_page_view(collection: str) -> bool:
    """A page view: the collections that show a page (`view_product_detail`, `view_home_page`, ...)."""
    return collection.startswith("view_")


@dataclass(frozen=True, slots=True)
class Visit:
    """One visit of one visitor (a row of the `visit` table, migration 0013)."""

    visitor: str
    started_at: datetime
    ended_at: datetime
    events: int
    page_views: int
    entry_path: str | None
    exit_path: str | None
    site_key: int
    device_type_key: int | None
    referrer_key: int | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    first_product_view: datetime | None = None
    carts: tuple[datetime, ...] = ()
    checkouts: tuple[datetime, ...] = ()
    successes: tuple[datetime, ...] = ()

    @property
    def key(self) -> tuple[str, datetime]:
        """The primary key of its row."""
        return self.visitor, self.started_at

    @property
    def funnel_step(self) -> int:
        """How far along the funnel the visit went, in order: 0 (not at all) .. 4 (an order)."""
        if self.first_product_view is None:
            return 0
        reached, at = 1, self.first_product_view
        for times in (self.carts, self.checkouts, self.successes):
            later = next((moment for moment in times if moment > at), None)
            if later is None:
                break
            reached, at = reached + 1, later
        return reached

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def bounced(self) -> bool:
        return self.page_views <= 1


def single_event_visit(
    visitor: str, at: datetime, collection: str, path: str | None, site_key: int, device_type_key: int | None,
    referrer_key: int | None, utm_source: str | None, utm_medium: str | None, utm_campaign: str | None,
) -> Visit:
    """The visit one event would be alone."""
    step = FUNNEL.index(collection) if collection in FUNNEL else -1
    return Visit(
        visitor=visitor, started_at=at, ended_at=at, events=1, page_views=int(is_page_view(collection)),
        entry_path=path, exit_path=path, site_key=site_key, device_type_key=device_type_key,
        referrer_key=referrer_key, utm_source=bounded_key(utm_source), utm_medium=bounded_key(utm_medium),
        utm_campaign=bounded_key(utm_campaign),
        first_product_view=at if step == 0 else None,
        carts=(at,) if step == 1 else (), checkouts=(at,) if step == 2 else (), successes=(at,) if step == 3 else (),
    )


# One event of a visitor, as the visits step reads it from a staged fact row.
VisitEvent = tuple[datetime, str, str | None, int, int | None, int | None, str | None, str | None, str | None]
# (at, collection, path, site_key, device_type_key, referrer_key, utm_source, utm_medium, utm_campaign)


def visits_of_events(visitor: str, events: list[VisitEvent], gap: timedelta) -> list[Visit]:
    """`sessionize` of the events' single-event visits, built in one pass over the sorted events (no merges)."""
    ordered = sorted(events, key=_event_order)
    visits = []
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index][0] - ordered[index - 1][0] > gap:
            visits.append(_run(visitor, ordered[start:index]))
            start = index
    return visits


def _event_order(event: VisitEvent) -> tuple[object, ...]:
    at, _, path, site_key, device, referrer, source, medium, campaign = event
    return (at, path or "", site_key, referrer or 0, device or 0, source or "", medium or "", campaign or "")


def _run(visitor: str, run: list[VisitEvent]) -> Visit:
    """The visit of a run of one visitor's events, sorted by `_event_order`, no gap over the limit."""
    first = run[0]
    last = max(run, key=lambda e: (e[0], e[2] or ""))
    steps: list[list[datetime]] = [[], [], [], []]
    page_views = 0
    for at, collection, *_ in run:
        if collection.startswith("view_"):
            page_views += 1
        if collection in _STEP:
            steps[_STEP[collection]].append(at)
    return Visit(
        visitor=visitor, started_at=first[0], ended_at=run[-1][0], events=len(run), page_views=page_views,
        entry_path=first[2], exit_path=last[2], site_key=first[3], device_type_key=first[4], referrer_key=first[5],
        utm_source=bounded_key(first[6]), utm_medium=bounded_key(first[7]), utm_campaign=bounded_key(first[8]),
        first_product_view=steps[0][0] if steps[0] else None, carts=tuple(steps[1][:MAX_STEP_TIMES]),
        checkouts=tuple(steps[2][:MAX_STEP_TIMES]), successes=tuple(steps[3][:MAX_STEP_TIMES]),
    )


_STEP = {name: index for index, name in enumerate(FUNNEL)}


def merge(a: Visit, b: Visit) -> Visit:
    """One visit of two of the same visitor; `a` starts no later than `b` (its landing values win)."""
    last = b if (b.ended_at, b.exit_path or "") >= (a.ended_at, a.exit_path or "") else a
    views = [moment for moment in (a.first_product_view, b.first_product_view) if moment is not None]
    return replace(
        a, ended_at=max(a.ended_at, b.ended_at), events=a.events + b.events, page_views=a.page_views + b.page_views,
        exit_path=last.exit_path, first_product_view=min(views) if views else None,
        carts=_earliest(a.carts, b.carts), checkouts=_earliest(a.checkouts, b.checkouts),
        successes=_earliest(a.successes, b.successes),
    )


def sessionize(visits: Iterable[Visit], gap: timedelta) -> list[Visit]:
    """The visits of one visitor's visits and events taken together: joined where at most `gap` apart."""
    ordered = sorted(visits, key=_order)
    joined: list[Visit] = []
    for visit in ordered:
        if joined and visit.started_at - joined[-1].ended_at <= gap:
            joined[-1] = merge(joined[-1], visit)
        else:
            joined.append(visit)
    return joined


def _order(visit: Visit) -> tuple[object, ...]:
    # The start, then the landing values: a merged visit carries those of its earliest event by this same key,
    # so whichever way its events were split into batches, the same event's values win.
    return (visit.started_at, visit.entry_path or "", visit.site_key, visit.referrer_key or 0,
            visit.device_type_key or 0, visit.utm_source or "", visit.utm_medium or "", visit.utm_campaign or "",
            visit.ended_at, visit.exit_path or "")


def _earliest(a: tuple[datetime, ...], b: tuple[datetime, ...]) -> tuple[datetime, ...]:
    if not b:
        return a
    if not a:
        return b
    return tuple(heapq.nsmallest(MAX_STEP_TIMES, (*a, *b)))
