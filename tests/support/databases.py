"""A database of a test's own on the session's cluster, schema installed, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from payments.runtime.settings import Settings
from payments.tools.bench import database


@contextmanager
def own_database(
    settings: Settings, superuser_url: str, label: str
) -> Iterator[database.BenchDatabase]:
    own = database.create(
        f"{label}_{uuid.uuid4().hex[:8]}",
        superuser_url,
        settings.require_admin_database_url(),
        settings.require_database_url(),
    )
    try:
        database.install_schema(own)
        yield own
    finally:
        database.drop(own)
