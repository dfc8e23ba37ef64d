"""`payments reconcile` on a database of its own, against a ledger the real engine code wrote.

The bank account is the ledger's external account `bank`: every top-up debits it (the
bank sees money in). A day of seven top-ups is decided by the real `Ledger`, the read
side is built by `payments replay`, and the bank's statement of the day (CSV) has
deliberate mismatches: a fee taken from one transfer, a line the ledger never heard
of, a top-up the bank never received. The command line (a real process each time)
imports it, reports, refuses an unbalanced statement, recognises a duplicate, and
resolves an exception; the store is checked after each step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from payments.api.reconciliation_metrics import ReconciliationCollector
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from tests.support.databases import own_database
from tests.support.signing import signed_ledger

pytestmark = pytest.mark.integration
# The audit log is what the reconciliation reads the ledger from (as the API's statements).
REPLAY = ("replay", "--projection", "balances", "--projection", "audit")

TOP_UPS = {"t-1": 10_000, "t-2": 2_500, "t-3": 3_100, "t-4": 4_200, "t-5": 5_000, "t-6": 1_000,
           "t-7": 800}  # fmt: skip


@pytest.fixture()
def own_store(settings: Settings, superuser_database_url: str) -> Iterator[str]:
    with own_database(settings, superuser_database_url, "recon") as own:
        yield own.app_url


def cli(url: str, service_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **service_env, "PAYMENTS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def command(n: int, type_: str, **payload: object) -> dict:
    return {"command_id": f"recon-{n}", "type": type_, "actor": "treasury@it",
            "issued_at": "2026-12-02T10:00:00Z", "payload": payload}  # fmt: skip


def business_day(url: str) -> None:
    app = PaymentsApplication(env=application_env(url, pool_size=1, snapshots=False))
    try:
        ledger = signed_ledger(app)
        commands = [
            command(1, "open_account", account_id="bank", currency="EUR", kind="external"),
            command(2, "open_account", account_id="alice", currency="EUR", kind="customer"),
        ]
        for n, (transfer_id, amount) in enumerate(TOP_UPS.items(), start=3):
            commands.append(command(n, "transfer", transfer_id=transfer_id, from_account="bank",
                                    to_account="alice", amount=amount, currency="EUR"))  # fmt: skip
        for raw in commands:
            outcome = ledger.decide(raw)
            assert outcome.status == "accepted", outcome
    finally:
        app.close()


def statement_csv(path: Path, lines: list[tuple[int, str, str]], *, closing: int | None = None,
                  statement_id: str = "BANK-STMT-1") -> Path:  # fmt: skip
    today = datetime.now(UTC).date()
    rows = ["kind,date,amount,currency,reference,end_to_end_id,statement_id,counterparty"]
    rows.append(f"opening,{today - timedelta(days=1)},0.00,EUR,,,{statement_id},")
    for amount, reference, end_to_end in lines:
        rows.append(f"line,{today},{amount / 100:.2f},EUR,{reference},{end_to_end},,Alice Example")
    total = sum(a for a, _, _ in lines) if closing is None else closing
    rows.append(f"closing,{today},{total / 100:.2f},EUR,,,,")
    path.write_text("\n".join(rows) + "\n")
    return path


DAY_LINES = [
    (10_000, "BANKREF-001", "t-1"),  # end-to-end id: the transfer id
    (2_500, "", ""),  # amount and date
    (7_300, "SEPA-BATCH", ""),  # one line for t-3 + t-4
    (2_000, "", ""),  # two lines for t-5
    (3_000, "", ""),
    (990, "t-6", ""),  # the bank kept a 10 cent fee: amount difference
    (123, "UNKNOWN-9", ""),  # money the ledger never heard of
]  # and t-7 (800) never reached the bank


def stored_topics(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT topic FROM payments_events WHERE topic LIKE 'payments.domain.statement:%'"
            " OR topic LIKE 'payments.domain.reconciliation:%' ORDER BY notification_id"
        ).fetchall()
    return [row[0].split(":", 1)[1] for row in rows]


def test_a_day_with_mismatches_imported_reported_and_resolved(
    own_store: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    business_day(own_store)
    replayed = cli(own_store, service_env, *REPLAY)
    assert replayed.returncode == 0, replayed.stderr

    # Unbalanced: refused with the difference, nothing stored.
    bad = statement_csv(tmp_path / "bad.csv", DAY_LINES, closing=30_000, statement_id="BAD")
    refused = cli(own_store, service_env, "reconcile", "import", str(bad), "--account", "bank")
    assert refused.returncode == 1
    assert "differs from the closing balance by 4087 minor units of EUR" in refused.stderr
    assert "[statement_unbalanced]" in refused.stderr
    assert stored_topics(own_store) == []

    good = statement_csv(tmp_path / "day.csv", DAY_LINES)
    imported = cli(own_store, service_env, "reconcile", "import", str(good), "--account", "bank",
                   "--actor", "ops@it", "--reason", "daily statement")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "7 line(s), 6 matched, 3 exception(s)" in imported.stdout
    assert stored_topics(own_store) == [
        "BankStatement.Imported", "BankStatement.Reconciled",
        *["ReconciliationException.Opened"] * 3,
    ]  # fmt: skip

    shown = cli(own_store, service_env, "reconcile", "report", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    [account] = report["accounts"]
    total_posted = sum(TOP_UPS.values())
    assert account == {
        "account_id": "bank", "currency": "EUR", "statements": 1,
        "closing_date": str(datetime.now(UTC).date()), "lines": 7, "matched_lines": 6,
        "unmatched_lines": 1, "matched_postings": 6, "unmatched_postings": 1,
        "exceptions_open": 3, "exceptions_resolved": 0,
        "statement_closing": sum(a for a, _, _ in DAY_LINES),
        "ledger_posted": -total_posted, "ledger_balance": total_posted,
        # the ledger expects 800 (t-7) + 10 (the fee) more than the bank has, and the
        # bank holds 123 the ledger does not know
        "drift": 800 + 10 - 123,
    }  # fmt: skip
    kinds = {x["kind"]: x for x in report["exceptions"]}
    assert set(kinds) == {"amount_difference", "unmatched_line", "unmatched_posting"}
    assert kinds["amount_difference"]["amount"] == -10
    assert kinds["unmatched_line"]["amount"] == 123
    assert kinds["unmatched_posting"]["amount"] == 800

    # The same file again, and the same statement in another file: nothing changes.
    again = cli(own_store, service_env, "reconcile", "import", str(good), "--account", "bank")
    assert again.returncode == 0 and "already imported, nothing changed" in again.stdout
    copy = tmp_path / "copy.csv"
    copy.write_text(good.read_text().replace("Alice Example", "A. Example"))
    resent = cli(own_store, service_env, "reconcile", "import", str(copy), "--account", "bank")
    assert "already imported" in resent.stdout, resent.stdout + resent.stderr
    assert len(stored_topics(own_store)) == 5

    fee = kinds["amount_difference"]["exception_id"]
    resolved = cli(own_store, service_env, "reconcile", "resolve", fee, "--reason",
                   "bank fee of 0.10, booked to fees", "--actor", "ops@it")  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    twice = cli(own_store, service_env, "reconcile", "resolve", fee, "--reason", "again")
    assert twice.returncode == 1 and "[exception_already_resolved]" in twice.stderr
    missing = cli(own_store, service_env, "reconcile", "resolve", f"nope-{uuid.uuid4().hex[:6]}",
                  "--reason", "x")  # fmt: skip
    assert missing.returncode == 1 and "no reconciliation exception" in missing.stderr
    assert stored_topics(own_store)[-1] == "ReconciliationException.Resolved"

    table = cli(own_store, service_env, "reconcile", "report", "--format", "table",
                "--date", str(datetime.now(UTC).date()))  # fmt: skip
    assert table.returncode == 0, table.stderr
    print(table.stdout)  # the report of a run with deliberate mismatches (pytest -s)
    assert "resolved" in table.stdout and "open" in table.stdout
    csv_report = cli(own_store, service_env, "reconcile", "report", "--format", "csv")
    header, row = csv_report.stdout.splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["exceptions_open"] == "2"
    elsewhere = cli(own_store, service_env, "reconcile", "report", "--date", "2001-01-01",
                    "--format", "json")  # fmt: skip
    assert json.loads(elsewhere.stdout)["accounts"] == []

    # The API's metrics read the same facts from the audit log (here: rebuilt from the store).
    assert cli(own_store, service_env, "replay", "--projection", "audit").returncode == 0
    with ConnectionPool(own_store, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in ReconciliationCollector(pool).collect()
            for s in family.samples
        }
    assert (
        samples[("payments_reconciliation_drift", (("account", "bank"), ("currency", "EUR")))]
        == 687
    )
    assert samples[("payments_reconciliation_exceptions_open", (("account", "bank"),))] == 2
    opened = (("account", "bank"), ("kind", "amount_difference"))
    assert samples[("payments_reconciliation_exceptions_opened_total", opened)] == 1


def camt053(*statements: tuple[str, int, list[int]]) -> bytes:
    """A camt.053.001.08 file: per statement its id, opening and entry amounts (cents)."""
    today = datetime.now(UTC).date()
    blocks = []
    for ident, opening, entries in statements:
        closing = opening + sum(entries)

        def balance(code: str, cents: int, day: object) -> str:
            sign = "CRDT" if cents >= 0 else "DBIT"
            return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
                    f'<Amt Ccy="EUR">{abs(cents) / 100:.2f}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
                    f"<Dt><Dt>{day}</Dt></Dt></Bal>")  # fmt: skip

        ntry = "".join(
            f'<Ntry><Amt Ccy="EUR">{abs(c) / 100:.2f}</Amt>'
            f"<CdtDbtInd>{'CRDT' if c > 0 else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<ValDt><Dt>{today}</Dt></ValDt></Ntry>"
            for c in entries
        )
        blocks.append(f"<Stmt><Id>{ident}</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id>"
                      f"</Acct>{balance('OPBD', opening, today - timedelta(days=1))}"
                      f"{balance('CLBD', closing, today)}{ntry}</Stmt>")  # fmt: skip
    return (
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        f"<BkToCstmrStmt>{''.join(blocks)}</BkToCstmrStmt></Document>"
    ).encode()


def test_statements_that_do_not_fit_are_refused_and_a_rerun_imports_only_the_rest(
    own_store: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    business_day(own_store)
    assert cli(own_store, service_env, *REPLAY).returncode == 0
    good = statement_csv(tmp_path / "day.csv", DAY_LINES)
    refused = cli(own_store, service_env, "reconcile", "import", str(good), "--account", "alice")
    assert refused.returncode == 1 and "statements reconcile external ones" in refused.stderr
    dollars = tmp_path / "usd.csv"
    dollars.write_text(good.read_text().replace(",EUR,", ",USD,"))
    refused = cli(own_store, service_env, "reconcile", "import", str(dollars), "--account", "bank")
    assert refused.returncode == 1 and "is in USD, account bank in EUR" in refused.stderr
    assert stored_topics(own_store) == []

    # A file of two statements whose first was stored before a crash: a re-run imports
    # the second only (each statement is its own transaction).
    first = tmp_path / "first.xml"
    first.write_bytes(camt053(("S-1", 0, [10_000, 2_500])))
    both = tmp_path / "both.xml"
    both.write_bytes(camt053(("S-1", 0, [10_000, 2_500]), ("S-2", 12_500, [-500])))
    assert cli(own_store, service_env, "reconcile", "import", str(first), "--account", "bank",
               "--format", "camt053").returncode == 0  # fmt: skip
    rerun = cli(own_store, service_env, "reconcile", "import", str(both), "--account", "bank")
    assert rerun.returncode == 0, rerun.stderr
    s1, s2 = rerun.stdout.splitlines()[:2]
    assert "(S-1): already imported, nothing changed" in s1
    assert "(S-2): 1 line(s), 0 matched, 1 exception(s)" in s2
    assert stored_topics(own_store).count("BankStatement.Imported") == 2


GUARDED = (
    "payments.domain.statement:BankStatement.Imported",
    "payments.domain.reconciliation:ReconciliationException.Resolved",
)


def test_the_engines_database_role_may_not_write_reconciliation_facts(
    settings: Settings, superuser_database_url: str
) -> None:
    """A compromised engine must not resolve exceptions or import a statement of its own."""
    from payments.contract.database_roles import ENGINE_ROLE

    insert = ("INSERT INTO payments_events (originator_id, originator_version, topic, state)"
              " VALUES (%s, 1, %s, '{}')")  # fmt: skip
    with (
        own_database(settings, superuser_database_url, "recon_guard") as own,
        psycopg.connect(own.superuser_url) as conn,
    ):
        conn.execute(f"SET ROLE {ENGINE_ROLE}")
        for topic in GUARDED:
            refused = pytest.raises(psycopg.errors.InsufficientPrivilege,
                                    match="reconciliation is the operator")  # fmt: skip
            with refused, conn.transaction():
                conn.execute(insert, (uuid.uuid4(), topic))
        # Any other event the engine writes is not this trigger's business.
        with conn.transaction():
            conn.execute(insert, (uuid.uuid4(), "payments.domain.account:Account.Opened"))
