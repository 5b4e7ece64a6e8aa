"""Snowplow's referer-parser database (`data/referers.yml`): a host's medium, source and search parameters.

The file is vendored as published (GPL-3.0, `data/referers.LICENSE`; credit and version in `data/README.md`;
`scripts/update_referers.sh` refreshes it). Lookup follows referer-parser: the host with the first path
segment (`google.com/products`), then the host, then the host without its leftmost label, and so on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["REFERERS_VERSION", "KnownReferer", "RefererDatabase", "default_referer_database"]

REFERERS_VERSION = "snowplow-referer-parser/referer-parser@b70173e (2025-11-25)"
"""The upstream commit of `data/referers.yml` (scripts/update_referers.sh rewrites this line)."""


@dataclass(frozen=True, slots=True)
class KnownReferer:
    """One database entry: its medium (search, social, email, paid, chatbot, unknown), source and parameters."""

    medium: str
    source: str
    parameters: tuple[str, ...]


class RefererDatabase:
    """Domain -> `KnownReferer`, built once from a referers.yml document."""

    def __init__(self, document: dict[str, Any]) -> None:
        """Index every domain of every medium; a domain listed twice keeps its first entry."""
        self._by_domain: dict[str, KnownReferer] = {}
        for medium, sources in (document or {}).items():
            for source, entry in (sources or {}).items():
                known = KnownReferer(str(medium), str(source), tuple(str(p) for p in entry.get("parameters") or ()))
                for domain in entry.get("domains") or ():
                    self._by_domain.setdefault(str(domain).lower(), known)

    @classmethod
    def from_path(cls, path: Path) -> RefererDatabase:
        """Read a referers.yml file."""
        return cls(yaml.safe_load(path.read_text("utf-8")))

    @property
    def domains(self) -> dict[str, KnownReferer]:
        """Every indexed domain (some with a path: `google.com/products`)."""
        return dict(self._by_domain)

    def lookup(self, host: str, path: str = "") -> KnownReferer | None:
        """The entry of `host` (lower case) or of its nearest listed parent domain; None if unlisted."""
        segment = path.lstrip("/").split("/", 1)[0]
        if segment and (found := self._by_domain.get(f"{host}/{segment}")) is not None:
            return found
        while True:
            if (found := self._by_domain.get(host)) is not None:
                return found
            dot = host.find(".")
            if dot < 0:
                return None
            host = host[dot + 1 :]


@functools.cache
def default_referer_database() -> RefererDatabase:
    """The bundled database, parsed once per process."""
    text = resources.files("pulse.enrich").joinpath("data/referers.yml").read_text("utf-8")
    return RefererDatabase(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506
