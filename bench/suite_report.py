"""Writes the suite's results: docs/benchmarks.md, docs/bench-*.png (matplotlib) and bench/results/suite-*.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGET_EPS = 50_000
TARGET_P99_MS = 1_000


def _plot_throughput(rows: list[dict[str, Any]], path: Path) -> None:
    done = [r for r in rows if r["events_per_s"]]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.barh([r["engine"] for r in done], [r["events_per_s"] for r in done], color="#4c72b0")
    ax.axvline(TARGET_EPS, color="#c44e52", linestyle="--", label=f"target {TARGET_EPS:,}/s")
    ax.set_xscale("log")
    ax.set_xlabel("events/s (log scale)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    ax.set_title("Kafka → committed in PostgreSQL, same events, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_freshness(rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.25
    for i, q in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        ax.bar([j + (i - 1) * width for j in range(len(rows))], [r[q] for r in rows], width, label=q[:3])
    ax.axhline(TARGET_P99_MS, color="#c44e52", linestyle="--", label="p99 target at 1,000/s")
    ax.set_xticks(range(len(rows)), [f"{r['rate']:,}/s" for r in rows])
    ax.set_ylabel("produce → queryable, ms")
    ax.legend()
    ax.set_title("Freshness at steady rates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_stages(costs: dict[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = list(costs)
    ax.barh(names, [costs[n] for n in names], color="#55a868")
    ax.invert_yaxis()
    ax.set_xlabel("µs per event (one core)")
    ax.set_title("Transform cost per stage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: float | None, suffix: str = "") -> str:
    return "—" if value is None else f"{value:,.0f}{suffix}"


def _ratio(after: float | None, before: float | None) -> str:
    return f"{after / before:.2f}×" if after and before else "—"


def _before_after(report: dict[str, Any]) -> list[str]:
    """The `--before REV` table: REV's native engine and this checkout's, measured alternately in this run."""
    if "before" not in report:
        return []
    old, new = report["before"], report
    was, now = old["throughput"][0], next(r for r in new["throughput"] if r["engine"].startswith("native"))
    lines = ["", f"## Before / after: `{old['tree']}` → `{new['tree']}`", "",
             "The same run, the same topic, the same benchmark code (this checkout's); each side's engine runs from its"
             " own tree (`git archive`) into databases its own migrations built, REV first in every measurement."
             " For events/s a ratio above 1 is better; for memory and latency, below 1.", "",
             "| measure | before | after | after/before |", "|---|---:|---:|---:|",
             f"| native events/s | {_fmt(was['events_per_s'])} | {_fmt(now['events_per_s'])} |"
             f" {_ratio(now['events_per_s'], was['events_per_s'])} |",
             f"| native peak RSS MB | {_fmt(was['peak_rss_mb'])} | {_fmt(now['peak_rss_mb'])} |"
             f" {_ratio(now['peak_rss_mb'], was['peak_rss_mb'])} |"]
    for a, b in zip(old["freshness"], new["freshness"], strict=True):
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            lines.append(f"| freshness {q[:3]} at {a['rate']:,}/s, ms | {a[q]} | {b[q]} | {_ratio(b[q], a[q])} |")
        lines.append(f"| not seen at {a['rate']:,}/s (of sampled) | {a['unseen']:,} of {a['sampled'] + a['unseen']:,}"
                     f" | {b['unseen']:,} of {b['sampled'] + b['unseen']:,} | |")
    return lines


def write(report: dict[str, Any], docs: Path, results: Path) -> Path:
    """Write the JSON, the three plots and the Markdown page; returns the page's path."""
    docs.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"suite-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = report["throughput"]
    _plot_throughput(rows, docs / "bench-throughput.png")
    _plot_freshness(report["freshness"], docs / "bench-freshness.png")
    _plot_stages(report["stages_us_per_event"], docs / "bench-stages.png")
    native = next(r for r in rows if r["engine"].startswith("native"))
    lines = [
        "# Benchmarks", "",
        f"Run {report['date']} with `{report['command']}` on {report['machine']}. Load average at start"
        f" {', '.join(f'{x:.1f}' for x in report['load_average_at_start'])}, at end"
        f" {', '.join(f'{x:.1f}' for x in report['load_average_at_end'])}: the machine was shared with other"
        " jobs, so absolute numbers are low and noisy; the ratios within this one run are what to compare."
        f" Raw figures: `bench/results/suite-{stamp}.json`.", "",
        f"## Throughput: Kafka → committed in PostgreSQL, {report['events']:,} synthetic events", "",
        "Every row reads the same topic into its own fresh database. The naive loader (the original design:"
        " the same transform, then row INSERTs in pages of 100 with ON CONFLICT DO NOTHING per table, a commit"
        " per page, no rollups) runs on the first events only, as it is slow; its rate is per event as well.",
        "", "| loader | events | seconds | events/s | × native | peak RSS MB |", "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['events_per_s'] / native['events_per_s']:.2f}×" if r["events_per_s"] else r.get("note", "—")
        lines.append(f"| {r['engine']} | {r['events']:,} | {_fmt(r['seconds'])} | {_fmt(r['events_per_s'])} |"
                     f" {ratio} | {_fmt(r['peak_rss_mb'])} |")
    lines += _before_after(report)
    lines += ["", f"Target: {TARGET_EPS:,} events/s (native reaches {native['events_per_s'] / TARGET_EPS:.0%});"
              " engine memory target ≤ 250 MB RSS.", "", "![throughput](bench-throughput.png)", "",
              "## Freshness: produce → queryable", "",
              "The native engine with its normal settings; a paced producer; about 200 sampled events a second are"
              " watched in the warehouse (poll every 20 ms, which bounds the resolution).", "",
              "| rate | achieved | sampled seen | not seen 30 s after the last send | p50 ms | p95 ms | p99 ms |"
              " engine peak RSS MB |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in report["freshness"]:
        lines.append(f"| {f['rate']:,}/s | {f['achieved_rate']:,}/s | {f['sampled']:,} | {f['unseen']:,} |"
                     f" {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} | {f['engine_peak_rss_mb']} |")
    lines += ["", "Percentiles are over the sampled events seen; events not seen in time mean the engine fell"
              " behind the rate (the percentiles then understate the lag)."]
    lines += ["", f"Target: p99 ≤ {TARGET_P99_MS:,} ms at 1,000 events/s.", "", "![freshness](bench-freshness.png)",
              "", "## Cost of each transform stage", "",
              "µs per event on one core; `transform` is the whole pure core (decode → model) and the sum the engine"
              " pays before loading; the enrichers are parts of `model (all)`.", "",
              "| stage | µs/event | share of transform |", "|---|---:|---:|"]
    costs = report["stages_us_per_event"]
    for name, micros in costs.items():
        lines.append(f"| {name} | {micros} | {micros / costs['transform']:.0%} |")
    lines += ["", "![stages](bench-stages.png)", ""]
    page = docs / "benchmarks.md"
    page.write_text("\n".join(lines))
    return page
