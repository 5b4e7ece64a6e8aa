"""Compare the warehouse with what was sent: one fact per distinct valid event, every rejection quarantined.

The guarantee checked, per distinct valid identity: exactly one fact, whose source coordinates are one
of the valid messages with that identity and whose content is that message's. When all valid copies of
an id sit in one partition, the first of them (in offset order) must be the one loaded; copies in
different partitions have no order, so any one of them may win.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

from pulse.settings import Settings
from pulse.testing.engine import end_offsets
from tests.reliability.report import Row
from tests.reliability.workload import Sent


@dataclass(slots=True)
class Audit:
    """Counts for the results table and every discrepancy found (empty when all is well)."""

    sent: int = 0
    valid_messages: int = 0
    distinct_valid: int = 0
    loaded: int = 0
    duplicate_facts: int = 0
    rejected: int = 0
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)

    def fill(self, row: Row) -> None:
        """Copy the counts into a results-table row."""
        row.sent, row.valid_messages, row.distinct_valid = self.sent, self.valid_messages, self.distinct_valid
        row.loaded, row.duplicate_facts = self.loaded, self.duplicate_facts
        row.rejected, row.quarantined, row.problems = self.rejected, self.quarantined, list(self.problems)

    def summary(self) -> str:
        """The discrepancies, for an assertion message."""
        shown = "\n  ".join(self.problems[:15])
        return f"{len(self.problems)} problems:\n  {shown}"


def audit_warehouse(settings: Settings, sent: list[Sent]) -> Audit:
    """Check the warehouse of `settings` against every message sent to its topic."""
    result = Audit(sent=len(sent))
    problems = result.problems
    by_coord = {(s.partition, s.offset): s for s in sent}
    copies: dict[tuple[str, str], list[Sent]] = defaultdict(list)
    for s in sent:
        if s.message.expect.identity is not None:
            copies[s.message.expect.identity].append(s)
    result.valid_messages = sum(len(v) for v in copies.values())
    result.distinct_valid = len(copies)
    result.rejected = sum(1 for s in sent if s.message.expect.reason is not None)

    with psycopg.connect(settings.database_url) as conn:
        facts = conn.execute(
            "SELECT event_id, src_partition, src_offset, collection, product_id FROM fact_event WHERE src_topic = %s",
            (settings.topic,),
        ).fetchall()
        quarantine = conn.execute(
            "SELECT src_partition, src_offset, reason, detail, sha256(raw) FROM quarantine WHERE src_topic = %s",
            (settings.topic,),
        ).fetchall()
        ledger, state_loaded, state_quarantined, consumed, rollup_a, rollup_b = conn.execute(
            "SELECT (SELECT count(*) FROM event_ledger), events_loaded, quarantined,"
            " (SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets WHERE topic = %s),"
            " (SELECT coalesce(sum(events), 0) FROM rollup_site_store),"
            " (SELECT coalesce(sum(events), 0) FROM rollup_browser_os) FROM load_state",
            (settings.topic,),
        ).fetchone() or (0, 0, 0, 0, 0, 0)

    result.loaded = len(facts)
    result.quarantined = len(quarantine)
    ids = [f[0] for f in facts]
    result.duplicate_facts = len(ids) - len(set(ids))
    if result.duplicate_facts:
        problems.append(f"{result.duplicate_facts} duplicated facts")

    # facts: each from a valid message, one per identity, with that message's content
    loaded_identities: dict[tuple[str, str], Sent] = {}
    loaded_coords = set()
    for event_id, partition, offset, collection, product_id in facts:
        loaded_coords.add((partition, offset))
        source = by_coord.get((partition, offset))
        if source is None:
            problems.append(f"fact {event_id!r} from unknown coordinates {partition}/{offset}")
            continue
        expect = source.message.expect
        if expect.identity is None:
            if expect.reason is not None:
                problems.append(f"loaded a message that must be rejected ({expect.reason}): {source.message.what}")
            continue
        if expect.identity in loaded_identities:
            problems.append(f"identity {expect.identity} loaded twice")
        loaded_identities[expect.identity] = source
        if expect.identity[0] == "id" and event_id != expect.identity[1]:
            problems.append(f"fact id {event_id!r} for a message with id {expect.identity[1]!r}")
        if collection != expect.collection:
            problems.append(f"{source.message.what}: collection {collection!r}, sent {expect.collection!r}")
        if expect.product_id is not None and product_id != expect.product_id:
            problems.append(f"{source.message.what}: product_id {product_id!r}, sent {expect.product_id!r}")
        versions = copies[expect.identity]
        if len({v.partition for v in versions}) == 1:
            first = min(versions, key=lambda v: v.offset)
            if first is not source:
                problems.append(f"{source.message.what}: a later copy won over the first in its partition")
    lost = [copies[i][0].message.what for i in copies if i not in loaded_identities]
    if lost:
        problems.append(f"{len(lost)} valid events lost, e.g. {lost[:5]}")

    # quarantine: every rejected message, with its reason and its exact bytes; nothing valid
    quarantined = {(p, o): (reason, detail, bytes(digest)) for p, o, reason, detail, digest in quarantine}
    for s in sent:
        expect, coord = s.message.expect, (s.partition, s.offset)
        row = quarantined.get(coord)
        if expect.reason is not None:
            if row is None:
                problems.append(f"not quarantined: {s.message.what} (expected {expect.reason})")
            elif row[0] != expect.reason:
                problems.append(f"{s.message.what}: quarantined as {row[0]}, expected {expect.reason}")
            elif not row[1]:
                problems.append(f"{s.message.what}: quarantined without a detail")
            elif row[2] != hashlib.sha256(s.message.value).digest():
                problems.append(f"{s.message.what}: quarantined bytes differ from the message")
        elif expect.identity is not None and row is not None:
            problems.append(f"valid message quarantined ({row[0]}: {row[1][:80]}): {s.message.what}")
        elif expect.identity is None and (row is None) == (coord not in loaded_coords):
            problems.append(f"fuzz message {'both' if row else 'neither'} quarantined {'and' if row else 'nor'} "
                            f"loaded: {s.message.what}")
    strays = set(quarantined) - set(by_coord)
    if strays:
        problems.append(f"{len(strays)} quarantine rows from unknown coordinates")

    # the warehouse's own books agree with the facts, and the offsets reached the end
    if ledger != len(facts) or state_loaded != len(facts):
        problems.append(f"ledger {ledger} / load_state {state_loaded} disagree with {len(facts)} facts")
    if rollup_a != len(facts) or rollup_b != len(facts):
        problems.append(f"rollups count {rollup_a} / {rollup_b} events, facts {len(facts)}")
    if state_quarantined != len(quarantine):
        problems.append(f"load_state counts {state_quarantined} quarantined, the table holds {len(quarantine)}")
    end = end_offsets(settings)
    if consumed != end:
        problems.append(f"offsets ledger at {consumed}, topic end at {end}")
    problems += conversion_problems(settings)
    return result


# The conversion state's books (migration 0012), each against what it is built from, in plain SQL (rollups
# with their deltas not folded yet).
_CONVERSION_CHECKS = {
    "orders: one per order id of the loaded checkouts": """
        SELECT (SELECT count(*) FROM fact_order),
               (SELECT count(DISTINCT order_id) FROM fact_event
                WHERE collection = 'checkout_success' AND order_id IS NOT NULL)""",
    "orders: the order rollup counts every order once": """
        SELECT (SELECT coalesce(sum(orders), 0) FROM rollup_order)
               + (SELECT coalesce(sum(orders), 0) FROM rollup_order_delta), (SELECT count(*) FROM fact_order)""",
    "visitors: the rollup counts every ledger row once": """
        SELECT (SELECT coalesce(sum(visitors), 0) FROM rollup_visitor_day)
               + (SELECT coalesce(sum(visitors), 0) FROM rollup_visitor_day_delta),
               (SELECT count(*) FROM visitor_day)""",
    "visits: the rollup counts every stored visit once, per zone": """
        SELECT (SELECT coalesce(sum(visits), 0) FROM rollup_visit_day)
               + (SELECT coalesce(sum(visits), 0) FROM rollup_visit_day_delta),
               (SELECT count(*) * (SELECT count(*) FROM kpi_zone) FROM visit)""",
    "visits: no two visits of a visitor within one gap (no race, no half-applied merge)": """
        SELECT count(*) FILTER (WHERE started_at - previous_end <= interval '30 minutes'), 0
        FROM (SELECT started_at, lag(ended_at) OVER (PARTITION BY visitor ORDER BY started_at) AS previous_end
              FROM visit) AS v""",
    "visits of device-id visitors: as many as the facts' runs with no gap over 30 minutes (no late events)": """
        WITH events AS (
          SELECT f.device_hash, f.event_time,
                 f.event_time - lag(f.event_time) OVER (PARTITION BY f.device_hash ORDER BY f.event_time) AS idle
          FROM fact_event f JOIN dim_site s USING (site_key)
          WHERE f.device_hash IS NOT NULL AND NOT f.is_bot AND NOT s.is_noise AND f.collection <> 'pulse_canary')
        SELECT (SELECT count(*) FROM visit WHERE visitor IN (SELECT device_hash FROM events))
               + (SELECT coalesce(sum(late_events), 0) FROM rollup_visit_late_day)
               + (SELECT coalesce(sum(late_events), 0) FROM rollup_visit_late_day_delta),
               (SELECT count(*) FILTER (WHERE idle IS NULL OR idle > interval '30 minutes') FROM events)""",
    "campaign orders: the rollup holds the orders of the stored visits once, per zone": """
        SELECT (SELECT coalesce(sum(orders), 0) FROM rollup_campaign_order_day)
               + (SELECT coalesce(sum(orders), 0) FROM rollup_campaign_order_day_delta),
               (SELECT count(*) * (SELECT count(*) FROM kpi_zone)
                FROM visit v JOIN fact_order o ON o.visitor = v.visitor AND o.event_time = ANY (v.successes))""",
    "visits: every event of a visit is a loaded fact": """
        SELECT least((SELECT coalesce(sum(events), 0) FROM visit), (SELECT count(*) FROM fact_event)),
               (SELECT coalesce(sum(events), 0) FROM visit)""",
}


def conversion_problems(settings: Settings) -> list[str]:
    """Each conversion book that disagrees with its source, with both numbers."""
    found = []
    with psycopg.connect(settings.database_url) as conn:
        for what, query in _CONVERSION_CHECKS.items():
            got, expected = conn.execute(query).fetchone() or (None, None)
            if got != expected:
                found.append(f"{what}: {got} != {expected}")
    return found
