"""Visits: any split of a visitor's events into batches, in any order, gives the visits of all events at once,
and those equal a plain reading of the events written here (sorted, cut at gaps), not pulse's merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.model.sessions import FUNNEL, Visit, sessionize, single_event_visit, visits_of_events

GAP = timedelta(minutes=30)
T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
COLLECTIONS = [*FUNNEL, "view_listing_page", "view_home_page", "search_box_action", "checkout"]

# an event: (seconds after T0, collection, path)
events_strategy = st.lists(
    st.tuples(st.integers(0, 6 * 3600), st.sampled_from(COLLECTIONS), st.sampled_from(["/", "/ring", "/cart"])),
    min_size=1, max_size=25,
)


def _visit(event: tuple[int, str, str]) -> Visit:
    seconds, collection, path = event
    return single_event_visit("v", T0 + timedelta(seconds=seconds), collection, path, 7, 1, 2, None, None, None)


def _plain(events: list[tuple[int, str, str]]) -> list[dict[str, object]]:
    """Visits read directly: events sorted by time (then path), a new visit after a gap over 30 minutes."""
    ordered = sorted(events, key=lambda e: (e[0], e[2]))
    runs: list[list[tuple[int, str, str]]] = []
    for event in ordered:
        if runs and event[0] - runs[-1][-1][0] <= GAP.total_seconds():
            runs[-1].append(event)
        else:
            runs.append([event])
    visits = []
    for run in runs:
        step, at = 0, None
        for wanted in FUNNEL:  # in order: the first event of this step after the previous step was reached
            found = [e[0] for e in run if e[1] == wanted and (at is None or e[0] > at)]
            if not found:
                break
            step, at = step + 1, min(found)
        last = max(run, key=lambda e: (e[0], e[2]))
        visits.append({"start": run[0][0], "end": run[-1][0], "events": len(run), "entry": run[0][2],
                       "exit": last[2], "page_views": sum(e[1].startswith("view_") for e in run), "step": step})
    return visits


def _summary(visits: list[Visit]) -> list[dict[str, object]]:
    return [{"start": int((v.started_at - T0).total_seconds()), "end": int((v.ended_at - T0).total_seconds()),
             "events": v.events, "entry": v.entry_path, "exit": v.exit_path, "page_views": v.page_views,
             "step": v.funnel_step} for v in visits]


def _in_batches(events: list[tuple[int, str, str]], cuts: list[int]) -> list[Visit]:
    """What the warehouse does: per batch, the stored visits within one gap of its events, with its events."""
    stored: list[Visit] = []
    bounds = sorted({min(c, len(events)) for c in cuts} | {0, len(events)})
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        batch = [_visit(e) for e in events[lo:hi]]
        first, last = min(v.started_at for v in batch), max(v.started_at for v in batch)
        near = [v for v in stored if v.ended_at >= first - GAP and v.started_at <= last + GAP]
        rest = [v for v in stored if v not in near]
        stored = rest + sessionize([*near, *batch], GAP)
    return sorted(stored, key=lambda v: v.started_at)


@settings(max_examples=300, deadline=None)
@given(events_strategy)
def test_visits_of_all_events_equal_the_plain_reading(events: list[tuple[int, str, str]]) -> None:
    assert _summary(sessionize([_visit(e) for e in events], GAP)) == _plain(events)


@settings(max_examples=300, deadline=None)
@given(events_strategy, st.lists(st.integers(0, 25), max_size=6), st.randoms(use_true_random=False))
def test_any_split_into_batches_in_any_order_gives_the_same_visits(
    events: list[tuple[int, str, str]], cuts: list[int], rng: object
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _summary(_in_batches(shuffled, cuts)) == _plain(events)


def test_a_late_event_that_bridges_two_visits_merges_them() -> None:
    morning = sessionize([_visit((0, "view_home_page", "/")), _visit((3000, "view_product_detail", "/ring"))], GAP)
    assert len(morning) == 2  # 50 minutes apart
    bridged = sessionize([*morning, _visit((1500, "add_to_cart_action", "/cart"))], GAP)
    assert _summary(bridged) == [{"start": 0, "end": 3000, "events": 3, "entry": "/", "exit": "/ring",
                                  "page_views": 2, "step": 1}]  # the cart came before the product view


def test_the_funnel_counts_steps_in_order_only() -> None:
    steps = [(0, "view_product_detail", "/ring"), (60, "add_to_cart_action", "/cart"), (120, "checkout", "/c"),
             (180, "checkout_success", "/ok")]
    assert sessionize([_visit(e) for e in steps], GAP)[0].funnel_step == 4
    backwards = [(0, "checkout_success", "/ok"), (60, "checkout", "/c"), (120, "view_product_detail", "/ring")]
    assert sessionize([_visit(e) for e in backwards], GAP)[0].funnel_step == 1
    one = sessionize([_visit((0, "view_home_page", "/"))], GAP)[0]
    assert (one.bounced, one.duration_s, one.funnel_step) == (True, 0.0, 0)


@settings(max_examples=300, deadline=None)
@given(events_strategy)
def test_the_one_pass_reading_of_a_batch_equals_merging_its_events_one_by_one(
    events: list[tuple[int, str, str]]
) -> None:
    rows = [(T0 + timedelta(seconds=s), c, p, 7, 1, 2, None, None, None) for s, c, p in events]
    assert visits_of_events("v", rows, GAP) == sessionize([_visit(e) for e in events], GAP)


def test_a_long_utm_value_becomes_a_bounded_key_that_fits_the_rollup_index() -> None:
    long = "🙂" * 512  # 2,048 UTF-8 bytes: three of them would overflow a btree entry (about 2,700 bytes)
    row = (T0, "view_home_page", "/", 7, 1, 2, long, long, long)
    visit = visits_of_events("v", [row], GAP)[0]
    for value in (visit.utm_source, visit.utm_medium, visit.utm_campaign):
        assert value is not None and value != long and len(value.encode()) <= 512
    assert single_event_visit("v", T0, "view_home_page", "/", 7, 1, 2, long, None, None).utm_source == visit.utm_source
