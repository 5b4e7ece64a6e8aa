"""PULSE_HOME files: private directories and files, and tightening what an older pulse left readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pulse.stack.files import make_private, open_private_append, private_dir, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_private_dir_creates_missing_levels_0700_and_leaves_an_existing_parent_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    made = private_dir(tmp_path / "home" / "kafka" / "data")
    assert made == tmp_path / "home" / "kafka" / "data"
    assert [_mode(p) for p in (tmp_path / "home", tmp_path / "home" / "kafka", made)] == [0o700] * 3
    assert _mode(tmp_path) == 0o755
    made.chmod(0o755)
    private_dir(made)
    assert _mode(made) == 0o700


def test_written_and_appended_files_are_0600_even_when_they_existed_readable(tmp_path: Path) -> None:
    config = tmp_path / "server.properties"
    config.write_text("old")
    config.chmod(0o644)
    write_private(config, "new")
    assert (config.read_text(), _mode(config)) == ("new", 0o600)
    log = tmp_path / "broker.log"
    log.write_text("line 1\n")
    log.chmod(0o644)
    with os.fdopen(open_private_append(log), "a") as out:
        out.write("line 2\n")
    assert (log.read_text(), _mode(log)) == ("line 1\nline 2\n", 0o600)
    fresh = tmp_path / "fresh.log"
    os.close(open_private_append(fresh))
    assert _mode(fresh) == 0o600


def test_make_private_takes_group_and_other_bits_away_and_keeps_the_owners(tmp_path: Path) -> None:
    root = tmp_path / "kafka"
    segment_dir = root / "data" / "product_views-0"
    segment_dir.mkdir(parents=True)
    segment = segment_dir / "00000000000000000000.log"
    segment.write_bytes(b"")
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    for path, mode in ((root, 0o755), (root / "data", 0o755), (segment_dir, 0o775), (segment, 0o644),
                       (script, 0o755)):
        path.chmod(mode)
    (root / "link").symlink_to(tmp_path)
    tmp_path.chmod(0o755)
    assert make_private(root) == 5
    assert [_mode(p) for p in (root, root / "data", segment_dir, segment, script)] == [
        0o700, 0o700, 0o700, 0o600, 0o700]
    assert _mode(tmp_path) == 0o755  # the link was not followed
    assert make_private(root) == 0
