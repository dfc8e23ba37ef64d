"""POST /reconciliation/imports as a client sees it: a real `payments api` process,
httpx, a database of this module's own, and the reconciler database role.

The ledger is test_reconciliation.py's day (seven top-ups from the external account
`bank`, decided by the real `Ledger`), its read side rebuilt by `payments replay`.
Keys are the operator's, for a principal with the `reconciliation` role and one
without. The API process gets the query role's URL and the reconciler's, as `payments
services env --principal client` gives them; what it stores is read back from the
event store. Nothing is mocked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from payments.api.problems import MEDIA_TYPE, TYPE_PREFIX
from payments.api.reconciliation_imports import MAX_BODY
from payments.contract.database_roles import QUERY_ROLE, RECONCILER_ROLE
from payments.ledger.identities import issue_api_key
from payments.ledger.statements import find_statement
from payments.ledger.store import PaymentsApplication, application_env
from payments.runtime.settings import Settings
from payments.runtime.subprocesses import stop_process
from payments.tools.services import principals
from tests.integration.test_api import start_api
from tests.integration.test_reconciliation import (
    DAY_LINES,
    business_day,
    cli,
    statement_csv,
    stored_topics,
)
from tests.support.databases import own_database
from tests.support.signing import register

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"
CAMT053 = FIXTURES / "genkgo-camt053.v2.multi.statement.xml"  # two statements, one line each
UNBALANCED = FIXTURES / "jejik-abnamro.sta"  # a real ABN AMRO export that does not add up
PROJECTIONS = ("replay", "--projection", "balances", "--projection", "principals",
               "--projection", "audit")  # fmt: skip


@dataclass(frozen=True)
class Bank:
    url: str  # the own database, as the operator
    api: str
    keys: dict[str, str]
    importer: str  # the principal with the reconciliation role


@pytest.fixture(scope="module")
def bank(
    settings: Settings,
    superuser_database_url: str,
    service_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bank]:
    run = uuid.uuid4().hex[:8]
    logs = tmp_path_factory.mktemp("reconciliation-api")
    with own_database(settings, superuser_database_url, "recon_api") as own:
        business_day(own.app_url)
        importer, auditor = f"treasury-{run}@it", f"auditor-{run}@it"
        app = PaymentsApplication(env=application_env(own.app_url, pool_size=1))
        try:
            register(app, importer, frozenset({"reconciliation"}))
            register(app, auditor, frozenset({"auditor"}))
            later = datetime.now(UTC) + timedelta(hours=1)
            keys = {
                name: issue_api_key(app, principal=who, expires_at=later, actor="tests").token
                for name, who in (("importer", importer), ("auditor", auditor))
            }
        finally:
            app.close()
        replayed = cli(own.app_url, service_env, *PROJECTIONS)
        assert replayed.returncode == 0, replayed.stderr
        env = principals.role_env(settings, "client", own.app_url)
        if "PAYMENTS_RECONCILER_DATABASE_URL" not in env:
            pytest.skip("the suite runs on a database this project did not set up")
        env |= {"PAYMENTS_LOG_FORMAT": "json", "PAYMENTS_API_RATE_LIMIT": "100000/minute"}
        process, base = start_api(env, logs / "api.log")
        try:
            yield Bank(own.app_url, base, keys, importer)
        finally:
            stop_process(process)


def upload(bank: Bank, data: bytes, key: str = "importer", **params: Any) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if key:
        headers["Authorization"] = f"Bearer {bank.keys.get(key, key)}"
    return httpx.post(
        f"{bank.api}/reconciliation/imports", content=data,
        params={"account": "bank", **params}, headers=headers, timeout=60,
    )  # fmt: skip


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["type"] == TYPE_PREFIX + slug and body["status"] == status, body
    return body


def test_the_api_process_imports_as_the_reconciler_and_reads_as_the_query_role(
    settings: Settings,
) -> None:
    env = principals.role_env(settings, "client", settings.require_database_url())
    for variable, role in (("PAYMENTS_DATABASE_URL", QUERY_ROLE),
                           ("PAYMENTS_RECONCILER_DATABASE_URL", RECONCILER_ROLE)):  # fmt: skip
        if variable not in env:
            pytest.skip("the suite runs on a database this project did not set up")
        with psycopg.connect(env[variable]) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_a_real_camt053_file_is_imported_once_and_a_retry_changes_nothing(bank: Bank) -> None:
    before = stored_topics(bank.url)
    first = upload(bank, CAMT053.read_bytes(), reason="daily camt.053")
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["status"], report["actor"], report["account_id"]) == (
        "imported", bank.importer, "bank",
    )  # fmt: skip
    ids = [s["bank_statement_id"] for s in report["statements"]]
    assert ids == ["253EURNL26VAYB8060476890", "254EURNL26VAYB8060476890"]
    for statement in report["statements"]:
        # Lines of 2014/15: no posting of the ledger near them, each an exception.
        assert (statement["duplicate"], statement["lines"], statement["matched_lines"]) == (
            False, 1, 0,
        )  # fmt: skip
        [exception] = statement["exceptions"]
        assert (exception["kind"], exception["resolved"]) == ("unmatched_line", False)
        assert exception["value_date"] in ("2014-12-31", "2015-01-02"), exception
    added = stored_topics(bank.url)[len(before) :]
    assert added == ["BankStatement.Imported", "BankStatement.Reconciled",
                     "ReconciliationException.Opened"] * 2  # fmt: skip
    app = PaymentsApplication(env=application_env(bank.url, pool_size=1, snapshots=False))
    try:
        stored = find_statement(app, report["statements"][0]["statement_id"])
    finally:
        app.close()
    assert stored is not None and stored.imported_by == bank.importer

    again = upload(bank, CAMT053.read_bytes())
    assert again.status_code == 200, again.text
    repeated = again.json()
    assert repeated["status"] == "already_imported"
    assert [s["duplicate"] for s in repeated["statements"]] == [True, True]
    assert [s["exceptions"] for s in repeated["statements"]] == [
        s["exceptions"] for s in report["statements"]
    ]
    assert stored_topics(bank.url) == before + added  # nothing changed


def test_a_day_statement_is_matched_against_the_ledger_over_http(
    bank: Bank, tmp_path: Path
) -> None:
    day = statement_csv(tmp_path / "day.csv", DAY_LINES, statement_id="API-DAY")
    response = upload(bank, day.read_bytes(), format="csv")
    assert response.status_code == 201, response.text
    [statement] = response.json()["statements"]
    counts = (statement["lines"], statement["matched_lines"], statement["unmatched_lines"])
    assert counts == (7, 6, 1)
    kinds = sorted(x["kind"] for x in statement["exceptions"])
    assert kinds == ["amount_difference", "unmatched_line", "unmatched_posting"]
    fee = next(x for x in statement["exceptions"] if x["kind"] == "amount_difference")
    assert fee["amount"] == -10  # the bank kept 10 cents of t-6


def test_a_key_without_the_scope_is_refused_and_nothing_is_stored(bank: Bank) -> None:
    before = stored_topics(bank.url)
    forbidden = problem(upload(bank, CAMT053.read_bytes(), key="auditor"), 403, "forbidden")
    assert "reconciliation:write" in forbidden["detail"]
    problem(upload(bank, CAMT053.read_bytes(), key=""), 401, "unauthenticated")
    assert stored_topics(bank.url) == before


def test_files_that_are_not_statements_get_problem_details(bank: Bank) -> None:
    before = stored_topics(bank.url)
    problem(upload(bank, b"\x00\x01 not a statement at all"), 422, "statement-unreadable")
    problem(upload(bank, b"<Document><unclosed>"), 422, "statement-unreadable")
    unbalanced = problem(upload(bank, UNBALANCED.read_bytes()), 422, "statement-unbalanced")
    # 876.84 - (3236.28 - 321.44): the bank's own export does not add up
    assert (unbalanced["difference"], unbalanced["currency"]) == (-203_800, "EUR")
    assert "-203800" in unbalanced["detail"]
    other = upload(bank, CAMT053.read_bytes(), account="alice")  # a customer account
    problem(other, 422, "account-not-reconcilable")
    problem(upload(bank, b"x" * (MAX_BODY + 1)), 413, "too-large")
    problem(upload(bank, CAMT053.read_bytes(), format="pdf"), 422, "invalid-request")
    assert stored_topics(bank.url) == before


def test_the_operators_cli_finds_what_the_api_imported(
    bank: Bank, service_env: dict[str, str]
) -> None:
    """The operator's import and the API's share one code path and find each other's."""
    assert upload(bank, CAMT053.read_bytes()).status_code in (200, 201)
    again = cli(bank.url, service_env, "reconcile", "import", str(CAMT053), "--account", "bank")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already imported, nothing changed") == 2
