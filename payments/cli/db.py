"""`payments db init`: the whole schema on your own PostgreSQL."""

from __future__ import annotations

import click


@click.command("init")
def db_init() -> None:
    """Create the event store, its append-only guard, grants and read-side tables.

    For your own PostgreSQL: set PAYMENTS_ADMIN_DATABASE_URL (the owner role) and
    PAYMENTS_DATABASE_URL (the app role, which gets only the rights it needs on the
    event store). The read-side tables are created as the app role, so it needs
    USAGE and CREATE on the schema. Safe to run again.

    \b
    Example:
      PAYMENTS_ADMIN_DATABASE_URL=postgresql://owner@db/payments \\
      PAYMENTS_DATABASE_URL=postgresql://app@db/payments payments db init
    """
    from payments.runtime.settings import Settings
    from payments.tools.schema import install_schema

    settings = Settings()
    install_schema(settings.require_admin_database_url(), settings.require_database_url())
    click.echo("schema installed")


@click.group("db")
def db() -> None:
    """The database schema."""


db.add_command(db_init)
