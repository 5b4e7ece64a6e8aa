"""Load test of the HTTP collector on loopback with wrk: accepted requests/s and latency percentiles.

A real `pulse collect` (one uvicorn process) in front of the local Kafka (`pulse stack up`, acks=all):
every 202 means Kafka acknowledged the events. Each scenario runs for a bounded time; only loopback.

Usage: .venv/bin/python bench/collector_load.py [--duration 10] [--connections 32] [--out bench/results]
Needs wrk (`bash scripts/install.sh` installs it); writes bench/results/collector-<stamp>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.collect.server import free_port
from pulse.settings import load_settings
from pulse.stack.manager import stack_up

HOST = "127.0.0.1"
MAX_DURATION_S = 120
EVENT = {
    "collection": "view_product_detail", "product_id": "96672", "store_id": "6", "api_version": "1.0",
    "current_url": "https://www.glamira.de/glamira-ring-saphira-skug100335.html?alloy=white-375",
    "referrer_url": "https://www.google.com/", "resolution": "1920x1080", "local_time": "2026-11-28 10:31:30",
    "device_id": "5a1d2c3b-0000-4c5d-8e9f-000000000001",
    "option": [{"option_label": "alloy", "option_id": "328026", "value_label": "", "value_id": "3279318"}],
}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_script(body: bytes, path: Path) -> Path:
    """A wrk Lua script that POSTs `body` as a tracker would (text/plain, from a storefront origin)."""
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {orjson.dumps(body.decode()).decode()}\n"
        'wrk.headers["Content-Type"] = "text/plain"\n'
        'wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36"\n'
    )
    return path


def run_wrk(url: str, script: Path, duration: int, connections: int, threads: int) -> dict[str, Any]:
    """Run wrk once and parse its report (latency percentiles in ms, requests, non-2xx)."""
    out = subprocess.run(
        ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "-s", str(script),
         url], capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout
    pct = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if total is None or not pct:
        raise RuntimeError(f"cannot read the wrk report:\n{out}")
    seconds = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    requests, non2xx = int(total.group(1)), int(failed.group(1)) if failed else 0
    return {"requests": requests, "seconds": seconds, "non_2xx": non2xx,
            "accepted_rps": (requests - non2xx) / seconds, "p50_ms": pct["50"], "p90_ms": pct["90"],
            "p99_ms": pct["99"], "socket_errors": errors.group(1) if errors else "", "raw": out}


def accepted_events(base: str) -> float:
    """Events the collector reports as acknowledged by Kafka."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(r'^pulse_collect_events_total\{outcome="accepted",reason=""\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help=f"seconds per scenario (at most {MAX_DURATION_S})")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the machine has 2 cores)")
    parser.add_argument("--batches", default="1,20", help="events per request, one scenario each")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: bash scripts/install.sh installs it")
    duration = max(1, min(args.duration, MAX_DURATION_S))

    settings = load_settings()
    stack_up(settings)
    topic = f"bench_collector_{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)]).values():
        future.result(timeout=30)
    port = free_port(HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")} | {
        "PULSE_HOME": str(settings.home), "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "PULSE_TOPIC": topic,
        "PULSE_COLLECT_RATE_LIMIT_PER_S": "1e9", "PULSE_COLLECT_RATE_LIMIT_BURST": "1000000000",
    }
    base = f"http://{HOST}:{port}"
    collector = subprocess.Popen([sys.executable, "-m", "pulse.cli", "collect", "--host", HOST, "--port", str(port)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or collector.poll() is not None:
                sys.exit("the collector did not become healthy")
            time.sleep(0.2)
        with tempfile.TemporaryDirectory() as tmp:
            for batch in (int(b) for b in args.batches.split(",")):
                body = orjson.dumps([EVENT] * batch) if batch > 1 else orjson.dumps(EVENT)
                before = accepted_events(base)
                result = run_wrk(f"{base}/collect", wrk_script(body, Path(tmp) / f"b{batch}.lua"), duration,
                                 args.connections, args.threads)
                result |= {"batch": batch, "body_bytes": len(body),
                           "events_acknowledged": accepted_events(base) - before}
                result["accepted_events_per_s"] = result["events_acknowledged"] / result["seconds"]
                results.append(result)
                print({k: v for k, v in result.items() if k != "raw"}, flush=True)
    finally:
        collector.terminate()
        collector.wait(timeout=30)
        admin.delete_topics([topic])
    write_report(args, duration, results)


def write_report(args: argparse.Namespace, duration: int, results: list[dict[str, Any]]) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Collector load test {stamp}", "",
        f"`pulse collect` (1 uvicorn worker, uvloop) -> local Kafka (acks=all, idempotent), loopback, wrk "
        f"{args.threads} thread(s), {args.connections} connections, {duration} s per scenario; "
        f"{platform.node()} ({os.cpu_count()} cores), Python {platform.python_version()}.", "",
        "| events/request | body bytes | accepted requests/s | events acked/s | p50 ms | p90 ms | p99 ms "
        "| non-2xx | socket errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r['batch']} | {r['body_bytes']} | {r['accepted_rps']:,.0f} | "
                     f"{r['accepted_events_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors'] or '-'} |")
    lines += ["", "Raw wrk output:", ""]
    for r in results:
        lines += [f"events/request = {r['batch']}:", "```", r["raw"].rstrip(), "```", ""]
    path = args.out / f"collector-{stamp}.md"
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
