"""Files the local stack keeps under PULSE_HOME are private to their owner: 0700 directories, 0600 files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077  # for the services pulse starts (Kafka, Prometheus): what they create is private too


def private_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Create `path` with `mode` (0700), or set an existing one to it; return it.

    Missing parents are created the same way; an existing parent (PULSE_HOME itself, say) keeps its mode.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=mode, exist_ok=True)
    path.chmod(mode)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, which is created (or left) with mode 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    path.chmod(PRIVATE_FILE)


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created with mode 0600 (for a service's log)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)
    return descriptor


def make_private(root: Path) -> int:
    """Take group and other permissions away from everything under `root` (files from before pulse kept
    them private); return how many entries changed. Symbolic links are not followed."""
    changed = 0
    for directory, _subdirectories, filenames in os.walk(root):
        for entry in (Path(directory), *(Path(directory) / name for name in filenames)):
            info = entry.lstat()
            if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
                continue
            entry.chmod(stat.S_IMODE(info.st_mode) & ~0o077)
            changed += 1
    return changed
