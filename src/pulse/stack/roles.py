"""pulse's roles on the local cluster: owner, engine and dashboard logins, their group roles and the database."""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql

from pulse.settings import Settings
from pulse.stack.credentials import parse_target, pgpass_path
from pulse.warehouse.pgpass import read_entries, write_entries

SUPERUSER = "postgres"  # bootstrap superuser, reachable only over the unix socket (peer auth)
ENGINE_ROLE = "pulse_engine"
DASHBOARD_ROLE = "pulse_dashboard"
GROUP_GRANTS = {"pulse_loader": ENGINE_ROLE, "pulse_reader": DASHBOARD_ROLE}


def provision_roles(settings: Settings, admin: psycopg.Connection) -> None:
    """Owner, engine and dashboard login roles with passwords from (or new in) pgpass, the pulse_loader /
    pulse_reader group roles and their memberships, and the database. `admin` is the superuser's autocommit
    session. Safe to run again."""
    target = parse_target(settings)
    passfile = pgpass_path(settings)
    entries = read_entries(passfile)
    passwords: dict[str, str] = {}
    for role in (target.owner, ENGINE_ROLE, DASHBOARD_ROLE):
        known = target.password if role == target.owner and target.password else None
        known = known or entries.get((target.host, str(target.port), role))
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if exists and known:
            passwords[role] = known  # leave a working role alone
            continue
        password = known or secrets.token_urlsafe(24)
        verb = "ALTER ROLE {} WITH LOGIN PASSWORD {}" if exists else "CREATE ROLE {} LOGIN PASSWORD {}"
        admin.execute(sql.SQL(verb).format(sql.Identifier(role), sql.Literal(password)))
        passwords[role] = password
    for group, member in GROUP_GRANTS.items():
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [group]).fetchone():
            admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(member)))
        # The owner runs the migrations, which may grant these group roles themselves.
        admin.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(group), sql.Identifier(target.owner))
        )
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [target.dbname]).fetchone():
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(target.dbname), sql.Identifier(target.owner)
            )
        )
    write_entries(passfile, entries, {(target.host, str(target.port), r): p for r, p in passwords.items()})
