#!/usr/bin/env bash
# Refresh the vendored referer-parser database from a file or URL and record its version.
# Usage: scripts/update_referers.sh FILE_OR_URL VERSION   (VERSION: the upstream commit or release it is from)
# Then run: .venv/bin/python bench/referrer_agreement.py and .venv/bin/pytest tests/unit/enrich -q
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $# -eq 2 ]] || { echo "usage: $0 FILE_OR_URL VERSION" >&2; exit 2; }
source_ref=$1 version=$2
target=src/pulse/enrich/data/referers.yml
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [[ -f "$source_ref" ]]; then cp "$source_ref" "$tmp"; else curl -fsSL "$source_ref" -o "$tmp"; fi
# Refuse a file that is not a referer-parser database (the media pulse reads must be there).
.venv/bin/python - "$tmp" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
missing = [m for m in ("search", "social", "email") if not isinstance(doc, dict) or m not in doc]
if missing:
    sys.exit(f"update_referers.sh: not a referers.yml (no {', '.join(missing)} section)")
PY
mv "$tmp" "$target"
trap - EXIT
sed -i -E "s|^REFERERS_VERSION = .*|REFERERS_VERSION = \"snowplow-referer-parser/referer-parser@${version}\"|" \
  src/pulse/enrich/referer_db.py
echo "referers.yml updated to ${version}"
