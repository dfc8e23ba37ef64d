"""`payments demo`, the README's first command, end to end on its own database.

A database and a topic prefix of its own, so that `verify` at the end of the demo
checks exactly the demo's books, whatever else the test session has stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from payments.runtime.settings import Settings
from payments.tools.services.config import ServiceConfig
from tests.support.databases import own_database
from tests.support.kafka import create_topics
from tests.support.secrets_scan import leaks, log_files, secrets_of

pytestmark = pytest.mark.integration


def test_the_demo_plays_the_day_and_verify_passes(
    settings: Settings, superuser_database_url: str
) -> None:
    with own_database(settings, superuser_database_url, "demo") as own:
        prefix = f"t-demo-{uuid.uuid4().hex[:8]}"
        create_topics(settings.require_kafka_bootstrap(), prefix)
        env = {
            **os.environ,
            "PAYMENTS_DATABASE_URL": own.app_url,
            "PAYMENTS_ADMIN_DATABASE_URL": own.admin_url,
            "PAYMENTS_TOPIC_PREFIX": prefix,
            "PAYMENTS_ENGINE_GROUP": f"{prefix}-engine",
            "PAYMENTS_METRICS_PORT": "0",
            "COLUMNS": "160",
        }
        shown = subprocess.run(
            [sys.executable, "-m", "payments.cli", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    out = shown.stdout
    said = [line for line in out.splitlines() if "unexpected" in line or "demo failed" in line]
    assert shown.returncode == 0, "\n".join(said) + "\n" + out[-3000:] + shown.stderr[-3000:]
    assert "unexpected" not in out
    # The books of the day, as the scenario's arithmetic says (EUR, shown in units).
    assert "insufficient_funds" in out and "nothing_to_settle" in out
    assert "accepted (replayed)" in out
    assert "verify: OK" in out and "{'EUR': 0}" in out
    # The disputes: the coffee's accepted (4.50 back to alice, the 15.00 fee kept), the
    # books' contested by two operators and won (bob's 13.00 back to the bookshop).
    assert "proposer_cannot_approve" in out and '"status": "won"' in out
    # A holder's personal data, registered sealed and erased before the day's verify.
    assert "register_holder" in out and "erase_holder" in out and "Alice Example" not in out
    # The day ends with the payout account reconciled: the bank's fee is the exception.
    assert "the bank's fee (0.35) is the one exception, and the drift" in out
    assert "unexpected reconciliation" not in out
    for account, posted in (("alice", "39.00"), ("bob", "28.00"), ("fees", "16.30")):
        line = next(line for line in out.splitlines() if f" {account}." in line and "│" in line)
        assert posted in line, line
    # No password and no private key in any log of the run, nor in what it printed
    # (issue 13, item 5); the scan itself is proved to find one below.
    config = ServiceConfig.from_settings(settings)
    assert log_files(config), "no log to search: the scan would prove nothing"
    assert leaks(config, [("demo stdout", out), ("demo stderr", shown.stderr)]) == []


def test_the_secret_scan_finds_a_leaked_password(settings: Settings) -> None:
    config = ServiceConfig.from_settings(settings)
    name, secret = next(iter(secrets_of(config).items()))
    assert leaks(config, [("a careless log line", f"connecting with {secret}")]) == [
        f"{name} in a careless log line"
    ]
