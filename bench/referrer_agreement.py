"""Agreement of pulse's referrer classes with Snowplow's referer-parser database: the share of its domains
that pulse classifies as the database does (search, social, email), overall and per medium.

Usage: .venv/bin/python bench/referrer_agreement.py [--json] [--misses N]. No services needed. It reads the
vendored src/pulse/enrich/data/referers.yml directly and calls only `classify_referrer`, so running it with
PYTHONPATH pointing at an older checkout's src/ gives that checkout's figure on the same database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

from pulse.enrich.referrer import classify_referrer

DATABASE = Path(__file__).resolve().parents[1] / "src" / "pulse" / "enrich" / "data" / "referers.yml"
MEDIA = ("search", "social", "email")


def main(argv: list[str] | None = None) -> int:
    """Print the agreement per medium and overall."""
    args_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args_parser.add_argument("--json", action="store_true", help="print one JSON object")
    args_parser.add_argument("--misses", type=int, default=0, help="print up to N disagreements per medium")
    args = args_parser.parse_args(argv)
    document = yaml.safe_load(DATABASE.read_text("utf-8"))
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: dict[str, list[str]] = {medium: [] for medium in MEDIA}
    for medium in MEDIA:
        domains = {domain for entry in document[medium].values() for domain in entry.get("domains") or ()}
        for domain in sorted(domains):
            got = str(classify_referrer(f"https://{domain}/").referrer_class)
            total[medium] += 1
            if got == medium:
                agree[medium] += 1
            elif len(misses[medium]) < args.misses:
                misses[medium].append(f"{domain} -> {got}")
    report = {
        "database": f"{DATABASE.name} ({sum(total.values())} domains of {', '.join(MEDIA)})",
        "overall": round(sum(agree.values()) / sum(total.values()), 4),
        "by_medium": {m: {"agree": agree[m], "total": total[m], "share": round(agree[m] / total[m], 4)} for m in MEDIA},
        "misses": misses,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"agreement {report['overall']:.4f} on {report['database']}")
    for medium, row in report["by_medium"].items():
        print(f"  {medium:7} {row['share']:.4f}  {row['agree']}/{row['total']}")
        for miss in misses[medium]:
            print(f"      {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
