"""Package data the runtime reads (Superset bundle and config, Prometheus alert rules, Maven poms), found with
importlib.resources so an installed wheel finds them wherever it lives."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """A file or folder under pulse/resources as a filesystem path (pip installs pulse unpacked, never zipped)."""
    found = resources.files("pulse").joinpath("resources", *parts)
    return Path(str(found))
