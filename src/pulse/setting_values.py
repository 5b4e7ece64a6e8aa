"""What a well-formed setting value looks like (ports, hosts, web URLs, origins, PostgreSQL connection
strings), and how a refused setting reads: `PULSE_NAME <what is wrong> (got <value>)`, secrets never shown."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic_core import ErrorDetails

from pulse.errors import quoted

_PHRASES = {  # pydantic's error types -> what the operator reads after the variable name
    "less_than_equal": "must be at most {le}", "less_than": "must be less than {lt}",
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be more than {gt}",
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "bool_parsing": "must be true or false",
    "finite_number": "must be a finite number", "string_type": "must be text",
}


def describe_problem(err: ErrorDetails, secret_fields: Collection[str]) -> str:
    """One pydantic error as `PULSE_NAME <what is wrong> (got <value>)`; values of `secret_fields` are not shown."""
    loc = err["loc"]
    name = f"PULSE_{str(loc[0]).upper()}" if loc else ""
    if err["type"] == "value_error":
        text = err["msg"].removeprefix("Value error, ")
        return f"{name} {text}".strip()
    phrase = _PHRASES.get(err["type"])
    text = phrase.format(**err.get("ctx", {})) if phrase else f"is not valid: {err['msg']}"
    if len(loc) > 1:
        text += f" (item {loc[1]})"
    if loc and str(loc[0]) not in secret_fields and isinstance(err.get("input"), str | int | float):
        text += f" (got {quoted(err['input'])})"
    return f"{name} {text}".strip()


def is_port(text: str) -> bool:
    """1 to 65535, as digits."""
    return text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535


def is_host(text: str) -> bool:
    """An IP address (brackets allowed) or a host name of RFC 1123 labels."""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return bool(re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                                 r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?", text))


def is_web_url(text: str) -> bool:
    """An http(s) URL with a host (and a valid port, if any)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in text)


def is_origin(text: str) -> bool:
    """scheme://host[:port] as a browser sends it in Origin (a trailing / is tolerated)."""
    parts = urlsplit(text)
    return is_web_url(text) and parts.path in ("", "/") and not parts.query and not parts.fragment \
        and "@" not in parts.netloc


def check_conninfo(url: str) -> None:
    """ValueError unless libpq can read `url`; the message never repeats the URL (it may hold a password)."""
    try:
        parts: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        hint = " (write spaces as %20)" if "spaces" in str(exc) else ""
        raise ValueError(
            f"is not a PostgreSQL connection string like postgresql://user@host:5432/database{hint}"
        ) from None
    ports = str(parts.get("port") or "5432")
    for port in ports.split(","):
        if not is_port(port.strip()):
            raise ValueError(f"has port {quoted(port)}: a port is a number from 1 to 65535")


def with_passfile(url: str, passfile: Path | None) -> str:
    """`url` with `passfile` as its libpq password file, unless it holds a password or names a passfile already.

    A URL stays a URL (`?passfile=` or `&passfile=` appended); a key=value string gets one more key.
    """
    if passfile is None:
        return url
    parts = conninfo_to_dict(url)
    if parts.get("password") or parts.get("passfile"):
        return url
    if "://" in url:
        return f"{url}{'&' if '?' in url else '?'}passfile={quote(str(passfile), safe='/')}"
    return make_conninfo(url, passfile=str(passfile))
