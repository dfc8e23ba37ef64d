"""The demo's end of day: the payout account's bank statement, written by the demo as a
bank would (camt.053), imported and reported (docs/reconciliation.md).

The bank paid each settlement payout of the day; the café's transfer carries its batch
id as the end-to-end id, the bookshop's is found by amount and date, and the bank also
took a fee the ledger has not booked: one exception, and a drift of that fee.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg

from payments.ledger.statements import reconciliation_facts
from payments.ledger.store import open_application
from payments.reconciliation.importing import import_file
from payments.reconciliation.ledger_side import read_account
from payments.runtime.settings import Settings
from payments.tools.reconcile.report import Report, build_report

BANK_FEE = -35  # cents, money out


def statement_xml(statement_id: str, day: str, lines: list[tuple[int, str]]) -> bytes:
    """camt.053.001.08 with opening 0: lines of (cents, end-to-end id or '')."""

    def amount(cents: int) -> str:
        sign = "CRDT" if cents >= 0 else "DBIT"
        return f'<Amt Ccy="EUR">{abs(cents) / 100:.2f}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'

    def balance(code: str, cents: int) -> str:
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{amount(cents)}"
                f"<Dt><Dt>{day}</Dt></Dt></Bal>")  # fmt: skip

    entries = "".join(
        f"<Ntry>{amount(cents)}<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt>"
        f"<ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>DEMO-{n:04}</AcctSvcrRef>"
        + (f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs></TxDtls></NtryDtls>"
           if e2e else "")
        + "</Ntry>"
        for n, (cents, e2e) in enumerate(lines, start=1)
    )  # fmt: skip
    closing = sum(cents for cents, _ in lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>{day}T18:00:00Z</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>"
        f"{balance('OPBD', 0)}{balance('CLBD', closing)}{entries}</Stmt>"
        "</BkToCstmrStmt></Document>\n"
    ).encode()


def reconcile_payouts(settings: Settings, account_id: str, folder: Path) -> Report:
    """Write the bank's statement of `account_id` for today, import it, report it."""
    url = settings.require_database_url()
    with psycopg.connect(url) as conn:
        ledger = read_account(conn, account_id)
    payouts = [p for p in ledger.postings if p.reason == "settlement_payout"]
    lines = [(p.amount, p.reference if n == 0 else "") for n, p in enumerate(payouts)]
    lines.append((BANK_FEE, ""))
    day = datetime.now(UTC).date()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"statement-{account_id}-{day}.xml"
    path.write_bytes(statement_xml(f"DEMO-{account_id}-{day}", str(day), lines))
    import_file(settings, path, account_id=account_id, format=None, actor="operator:demo",
                reason="the demo's end of day")  # fmt: skip
    app = open_application(settings, snapshots=False)
    try:
        facts = reconciliation_facts(app, url)
    finally:
        app.close()
    with psycopg.connect(url) as conn:
        report = build_report(facts, conn, day)
    report.accounts = [a for a in report.accounts if a.account_id == account_id]
    report.exceptions = [x for x in report.exceptions if x.account_id == account_id]
    return report
