"""The pgpass format: escaped ':' and '\\', entries for every database, atomic private rewrites, libpq's lookup."""

from __future__ import annotations

import stat
from pathlib import Path

from pulse.warehouse.pgpass import pgpass_password, read_entries, split_line, write_entries


def test_split_honours_escapes_and_skips_comments() -> None:
    assert split_line(r"127.0.0.1:5432:*:pulse:a\:b\\c") == ["127.0.0.1", "5432", "*", "pulse", "a:b\\c"]
    assert split_line("# host:port:db:user:password") == []


def test_written_entries_read_back_merged_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "pgpass"
    write_entries(path, {}, {("127.0.0.1", "5999", "pulse"): "old", ("::1", "5999", "odd:user"): "p\\w"})
    write_entries(path, read_entries(path), {("127.0.0.1", "5999", "pulse"): "new"})
    assert read_entries(path) == {("127.0.0.1", "5999", "pulse"): "new", ("::1", "5999", "odd:user"): "p\\w"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and r"\:\:1:5999:*:odd\:user:p\\w" in lines


def test_lookup_takes_the_first_match_and_star_matches_anything(tmp_path: Path) -> None:
    path = tmp_path / "pgpass"
    path.write_text("127.0.0.1:5999:wh:reader:first\n*:*:*:reader:fallback\n127.0.0.1:5999:*:reader:never\n")
    assert pgpass_password(path, "127.0.0.1", "5999", "wh", "reader") == "first"
    assert pgpass_password(path, "db.internal", "1", "x", "reader") == "fallback"
    assert pgpass_password(path, "127.0.0.1", "5999", "wh", "nobody") is None
    assert pgpass_password(tmp_path / "missing", "127.0.0.1", "5999", "wh", "reader") is None
    assert read_entries(tmp_path / "missing") == {}
