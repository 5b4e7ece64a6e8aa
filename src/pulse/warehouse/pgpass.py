"""libpq's password file (pgpass): `host:port:database:user:password` lines, ':' and '\\' escaped with '\\'."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PgpassKey = tuple[str, str, str]  # host, port, user (the database is always '*' in the entries pulse writes)
HEADER = "# libpq password file of the pulse local stack (generated; host:port:db:user:password)"


def split_line(line: str) -> list[str]:
    """Split one pgpass line on unescaped ':' (libpq escapes ':' and '\\' with a backslash)."""
    if line.startswith("#"):
        return []
    fields, current, escaped = [], "", False
    for char in line:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]


def read_entries(path: Path) -> dict[PgpassKey, str]:
    """The entries for every database ('*') by (host, port, user); empty when the file is missing."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    entries: dict[PgpassKey, str] = {}
    for line in lines:
        fields = split_line(line)
        if len(fields) == 5 and fields[2] == "*":
            entries[(fields[0], fields[1], fields[3])] = fields[4]
    return entries


def write_entries(path: Path, old: dict[PgpassKey, str], new: dict[PgpassKey, str]) -> None:
    """Rewrite the password file (mode 0600, atomically) with `new` merged over `old`."""
    merged = {**old, **new}
    if merged == old and path.exists():
        return

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    lines = [":".join([escape(host), port, "*", escape(user), escape(password)])
             for (host, port, user), password in sorted(merged.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".pgpass-", dir=path.parent)
    with os.fdopen(handle, "w") as out:  # mkstemp creates the file with mode 0600
        out.write(HEADER + "\n")
        out.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


def pgpass_password(path: Path, host: str, port: str, dbname: str, user: str) -> str | None:
    """The password libpq would take from a pgpass file for this connection (first match; '*' matches all)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = split_line(line)
        if len(fields) == 5 and all(
            pattern in ("*", value) for pattern, value in zip(fields[:4], (host, port, dbname, user), strict=True)
        ):
            return fields[4]
    return None
