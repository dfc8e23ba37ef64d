"""The whole database schema, write side then read side: what `payments db init`,
`payments services up` and the bench install. Safe to run again."""

from __future__ import annotations

from payments.ledger import schema as write_side
from projections import schema as read_side


def install_schema(admin_url: str, app_url: str) -> None:
    write_side.install(admin_url, app_url)
    read_side.install(app_url)
