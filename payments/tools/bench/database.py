"""A database of its own for each benchmark run, on the project's PostgreSQL.

The relay publishes the whole notification log to a new events topic, and `payments
verify` checks every projection against every stored event: in the shared database
both would measure whatever tests left there. A fresh database set up like the main
one (owned by payments_admin, the app role may connect and create) holds exactly the
run's events, so replay and verify figures are the run's own, and runs never disturb
each other. It is dropped afterwards unless asked to keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ADMIN_ROLE = "payments_admin"
APP_ROLE = "payments_app"


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def user_of(url: str) -> str:
    return urlsplit(url).username or ""


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    app_url: str
    admin_url: str
    superuser_url: str


def create(name: str, superuser_url: str, admin_url: str, app_url: str) -> BenchDatabase:
    admin, app = user_of(admin_url) or ADMIN_ROLE, user_of(app_url) or APP_ROLE
    with psycopg.connect(
        with_database(superuser_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(admin)
            )
        )
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(app)
            )
        )
    with psycopg.connect(
        with_database(superuser_url, name), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(admin)))
        conn.execute(
            sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(app))
        )
    return BenchDatabase(
        name=name,
        app_url=with_database(app_url, name),
        admin_url=with_database(admin_url, name),
        superuser_url=with_database(superuser_url, name),
    )


def install_schema(database: BenchDatabase) -> None:
    from payments.tools.schema import install_schema as install_all

    install_all(admin_url=database.admin_url, app_url=database.app_url)


def drop(database: BenchDatabase) -> None:
    with psycopg.connect(
        with_database(database.superuser_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
        )


def server_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else ""
