"""Superset configuration for pulse: SQLite metadata, a per-install secret key, offline start.

Point Superset at it with SUPERSET_CONFIG_PATH=src/pulse/resources/superset/superset_config.py (pulse.stack.superset
does, from the installed package). It reads:
  PULSE_SUPERSET_HOME  where the metadata database and the secret key live (default: .pulse/superset)
The secret key is generated on first use into $PULSE_SUPERSET_HOME/secret_key (mode 0600) and never
committed; keep that file: a new key makes the stored database passwords unreadable.
"""

import hashlib
import os
import secrets
from pathlib import Path

_home = Path(os.environ.get("PULSE_SUPERSET_HOME", ".pulse/superset")).expanduser().resolve()
_home.mkdir(parents=True, exist_ok=True)
_key_file = _home / "secret_key"
if not _key_file.exists():
    _fd = os.open(_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(_fd, "w") as _out:
        _out.write(secrets.token_urlsafe(48))
SECRET_KEY = _key_file.read_text().strip()

SQLALCHEMY_DATABASE_URI = f"sqlite:///{_home / 'superset.db'}?check_same_thread=false"
DATA_DIR = str(_home)

# Embedded-dashboard tokens are signed with a key of their own, derived from the secret key.
GUEST_TOKEN_JWT_SECRET = hashlib.sha256(b"guest-token:" + SECRET_KEY.encode()).hexdigest()

# Offline, quiet start: no example data (pulse starts Superset with SCARF_ANALYTICS=false too), no map tiles.
MAPBOX_API_KEY = ""

# In-process caches (no Redis needed for one local Superset).
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 10}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 10}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
RATELIMIT_STORAGE_URI = "memory://"

# The dashboards refresh every 10 s: let Superset accept that short an interval without warning.
SUPERSET_DASHBOARD_PERIODICAL_REFRESH_LIMIT = 0
SUPERSET_DASHBOARD_PERIODICAL_REFRESH_WARNING_MESSAGE = None

# Writes through the REST API need a CSRF token (pulse superset provision fetches one).
WTF_CSRF_ENABLED = True
