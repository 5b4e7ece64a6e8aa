"""The transform gives the same StarBatch as the reference implementation (commit ede7b91), row for row.

The reference is extracted with `git archive` and run in its own interpreter (tests/unit/pipeline/
transform_runner.py), so the two versions never mix; the current one runs here through the same runner.
Inputs: the hypothesis strategies of the decode and model tests, and 50k events of the traffic generator,
all through one Enrichers per run, as in an engine (the strategies' events twice: the second pass meets
the caches the first one filled; the traffic repeats its hosts, agents, addresses and URLs by itself).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import random
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.model.star import STAGE_COLUMNS
from pulse.testing.geo import build_test_mmdb
from pulse.traffic.generator import TrafficGenerator, encode
from tests.unit.batches import FIXTURE_AGE_DAYS, KEY, NOW
from tests.unit.events.test_decode import fields as decode_fields
from tests.unit.events.test_decode import json_values as decode_values
from tests.unit.model.test_star import MODELLED_FIELDS, _odd_cart, _odd_options, _oversized, event_fields
from tests.unit.model.test_star import json_values as model_values
from tests.unit.pipeline import transform_runner

# The uncached implementation, with the maintained bot and referrer rules (the last commit before the caches
# met those rules in a merge): the caches must change nothing of what it makes.
REFERENCE = "ede7b91"
# Staged columns added after the reference (migration 0012's ledgers), at the end of STAGE_COLUMNS.
ADDED_COLUMNS = ("visitor", "order_currency", "order_revenue", "order_items", "order_issue", "page_path")
REPO = Path(__file__).resolve().parents[3]
RUNNER = Path(transform_runner.__file__).resolve()
TRAFFIC_EVENTS = 50_000
BATCH = 5_000


@pytest.fixture(scope="module")
def reference_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The src/ tree of the reference commit (a full clone has it; a shallow one does not: that fails)."""
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{REFERENCE}^{{commit}}"],
                           capture_output=True, check=False)
    if known.returncode != 0:
        pytest.fail(f"commit {REFERENCE} (the reference transform) is not in {REPO}: this test needs a full "
                    "clone (git clone, or git fetch --unshallow), not a shallow one", pytrace=False)
    target = tmp_path_factory.mktemp("reference")
    archive = target / "src.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), REFERENCE, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def _reference(src: Path, job: transform_runner.Job, work: Path) -> list[dict[str, Any]]:
    job_file, out_file = work / "job.pickle", work / "out.pickle"
    job_file.write_bytes(pickle.dumps(job))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(RUNNER), str(src), str(job_file), str(out_file)],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"the reference runner failed:\n{done.stderr[-3000:]}"
    return pickle.loads(out_file.read_bytes())  # noqa: S301 - our own file, written just now


def _assert_same(current: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    assert len(current) == len(reference)
    for number, (ours, theirs) in enumerate(zip(current, reference, strict=True)):
        where = f"batch {number}"
        assert len(ours["facts"]) == len(theirs["facts"]), f"{where}: fact count"
        for index, (full, ref) in enumerate(zip(ours["facts"], theirs["facts"], strict=True)):
            # The reference predates the visitor and order columns (appended last, model/star.py): its columns
            # must be ours, value for value; the new ones are proved by their own tests.
            assert len(full) == len(STAGE_COLUMNS) and len(ref) == len(STAGE_COLUMNS) - len(ADDED_COLUMNS)
            mine = full[:len(ref)]
            if mine != ref:
                columns = {c: (a, b) for c, a, b in zip(STAGE_COLUMNS, mine, ref, strict=True) if a != b}
                pytest.fail(f"{where}, fact {index}: (current, reference) differ in {columns}")
        for table, rows in theirs["dims"].items():
            assert ours["dims"][table] == rows, f"{where}: {table} differs"
        assert ours["dims"].keys() == theirs["dims"].keys()
        assert ours["rejections"] == theirs["rejections"], f"{where}: rejections differ"
        assert ours["duplicates_in_batch"] == theirs["duplicates_in_batch"], f"{where}: duplicates"


def _examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` values of `strategy`, the same ones every run."""
    found: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


@functools.cache
def _strategy_messages() -> list[bytes]:
    """Raw messages from the strategies the decode and model tests draw their events from."""
    decode_docs = _examples(st.dictionaries(decode_fields | st.text(max_size=8), decode_values, max_size=10), 300)
    model_docs = [{**doc, "time_stamp": 1716883882, "collection": doc.get("collection", "view_product_detail")}
                  for doc in _examples(st.dictionaries(event_fields | st.text(max_size=6), model_values,
                                                       max_size=8), 200)]
    oversized = st.builds(
        lambda values, option, cart, collection: {"time_stamp": 1716883882, "collection": collection,
                                                  "option": option, "cart_products": cart, **values},
        st.fixed_dictionaries({}, optional={name: _oversized(name) for name in MODELLED_FIELDS}),
        _odd_options, _odd_cart, _oversized("collection"))
    raw = [json.dumps(doc).encode() for doc in decode_docs + model_docs + _examples(oversized, 100)]
    return raw + _examples(st.binary(max_size=2000), 100) + _crossed_messages()


# Small pools of the values the model caches, crossed at random: the same URL, referrer or agent meets other
# pages, mediums and click ids, so a cache keyed on too little gives another row than the reference.
_POOLS: dict[str, list[object]] = {
    "current_url": [None, "https://www.glamira.de/ring.html", "https://www.glamira.de/ring.html?utm_medium=cpc",
                    "https://www.glamira.de/ring.html?utm_medium=email&utm_source=news&utm_campaign=may",
                    "https://www.glamira.fr/bague.html?gclid=abc", "https://www.glamira.fr/bague.html?fbclid=x",
                    "https://www.glamira.co.uk/catalog/product/view/id/123?alloy=white&stone=ruby",
                    "https://www.glamira.de/cart?id=55&email=jo@example.com", "https://glamira-de.translate.goog/x.html",
                    "https://user:pw@www.glamira.de/ring.html?utm_medium=paid_social", "not a url", "/local/path.html",
                    "https://www.glamira.de/ring.html?utm_medium=CPC&utm_source=g",
                    "https://www.glamira.de/" + "a" * 1100],
    "referrer_url": [None, "", "https://www.google.com/", "https://www.glamira.de/", "https://mail.yahoo.com/x",
                     "android-app://com.google.android.gm/", "https://203.0.113.9/page?e=jo@example.com",
                     "https://l.facebook.com/l.php", "https://www.google.com/url?q=" + "%E2%82%AC" * 300],
    "user_agent": [None, "", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
                   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "curl/8.0",
                   "Googlebot/2.1 (+http://www.google.com/bot.html)", "x" * 1500, "mail jo@example.com 1.2.3.4"],
    "ip": [None, "203.0.113.7", "203.0.113.200", "10.0.0.1", "::ffff:203.0.113.7", "2001:db8::1", "garbage",
           "203.0.113.7 ", "1.2.3.4"],
    "product_id": [None, "96672", "96672 ", "jo@example.com", "9" * 128, 12345],
    "viewing_product_id": [None, "777"],
    "store_id": [None, "6", 6, "1.2.3.4", "s" * 128],
    "utm_medium": [None, False, "cpc", "email"],
    "utm_source": [None, False, "google"],
    "time_stamp": [1716883882, 1716883882 + 3599, 1716883882 + 3600 * 30, 1716883882 + 86_400 * 200],
}


def _crossed_messages(count: int = 3_000) -> list[bytes]:
    rng = random.Random(7)
    docs = []
    for number in range(count):
        doc = {name: rng.choice(values) for name, values in _POOLS.items()}
        collection = rng.choice(["view_product_detail", "select_product_option"])
        docs.append({**doc, "id": f"e-{number % 2_900}", "collection": collection})  # some ids repeat
    return [json.dumps(doc).encode() for doc in docs]


def _batches(raw: list[bytes], size: int, *, again: bool) -> list[list[tuple[bytes, tuple[str, int, int]]]]:
    sourced = [(line, ("product_views", 0, offset)) for offset, line in enumerate(raw)]
    once = [sourced[i : i + size] for i in range(0, len(sourced), size)]
    return once + once[::-1] if again else once  # a second pass, in another order, meets warm caches


@pytest.mark.parametrize("privacy_redact", [True, False], ids=["redacted", "as-sent"])
def test_the_hypothesis_events_give_the_reference_batches(
    reference_src: Path, tmp_path: Path, privacy_redact: bool
) -> None:
    geo = build_test_mmdb(tmp_path / "city.mmdb", {"203.0.113.0/24": {
        "country_code": "CL", "country_name": "Chile", "region": "Santiago Metropolitan", "city": "Santiago"}})
    job = {"batches": _batches(_strategy_messages(), 150, again=True), "now": NOW,
           "options": {"hash_key": KEY, "geoip_database": geo, "max_event_age_days": FIXTURE_AGE_DAYS,
                       "privacy_redact": privacy_redact}}
    _assert_same(transform_runner.run(job), _reference(reference_src, job, tmp_path))


def test_generated_traffic_gives_the_reference_batches(reference_src: Path, tmp_path: Path) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    events = TrafficGenerator(seed=13, start=start).events(TRAFFIC_EVENTS)
    raw = [encode(event) for event in events]
    raw += raw[:: TRAFFIC_EVENTS // 50]  # redelivered copies: duplicates inside and across batches
    job = {"batches": _batches(raw, BATCH, again=False), "now": start.timestamp() + 86_400,
           "options": {"hash_key": KEY}}  # the bundled geo database: the generator's addresses are real ranges
    _assert_same(transform_runner.run(job), _reference(reference_src, job, tmp_path))
