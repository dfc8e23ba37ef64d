"""The CSV statement format of this project (docs/reconciliation.md, "CSV columns").

UTF-8, comma-separated, a header row naming the columns (order free):

| column | required | meaning |
|---|---|---|
| `kind` | yes | `opening`, `line` or `closing` (one opening and one closing row) |
| `date` | yes | ISO date: the balance's date, or the line's value date |
| `amount` | yes | decimal text in major units, `-` for money out: `-12.50` (never minor units) |
| `currency` | yes | ISO 4217, the same on every row |
| `reference` | no | the bank's reference of a line |
| `end_to_end_id` | no | the end-to-end id of a line |
| `booking_date` | no | ISO date a line was booked |
| `account` | no | the bank account (IBAN); the statement id is `statement_id` if given |
| `statement_id` | no | the bank's id for the statement (default: the file's SHA-256, 16 digits) |

Any other column (a counterparty's name, a remittance text) is read past.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

from payments.integrations.statements.model import (
    BankStatement,
    StatementError,
    StatementLine,
    checked_currency,
    minor_units,
    short_text,
)

REQUIRED = ("kind", "date", "amount", "currency")


def parse_csv(data: bytes) -> list[BankStatement]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementError("the CSV is not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or ())]
    if missing:
        raise StatementError(f"the CSV lacks the column(s) {', '.join(missing)}")
    opening = closing = None
    lines: list[StatementLine] = []
    currencies: set[str] = set()
    account = statement_id = ""
    for number, row in enumerate(reader, start=2):
        currency = checked_currency((row["currency"] or "").strip())
        currencies.add(currency)
        when = _date(row["date"], number)
        amount = minor_units(row["amount"] or "", currency)
        account = account or short_text(row.get("account"))
        statement_id = statement_id or short_text(row.get("statement_id"))
        kind = (row["kind"] or "").strip()
        if kind == "opening" and opening is None:
            opening = (amount, when)
        elif kind == "closing" and closing is None:
            closing = (amount, when)
        elif kind == "line":
            booked = (row.get("booking_date") or "").strip()
            lines.append(StatementLine(
                line=len(lines) + 1, amount=amount, value_date=when,
                booking_date=_date(booked, number) if booked else None,
                reference=short_text(row.get("reference")),
                end_to_end_id=short_text(row.get("end_to_end_id")),
            ))  # fmt: skip
        else:
            raise StatementError(f"row {number}: kind {kind[:16]!r} (or a second {kind})")
    if opening is None or closing is None:
        raise StatementError("the CSV needs one opening and one closing row")
    if len(currencies) != 1:
        raise StatementError(f"one currency per statement, found {sorted(currencies)}")
    return [BankStatement(
        format="csv",
        bank_statement_id=statement_id or hashlib.sha256(data).hexdigest()[:16],
        bank_account=account, currency=currencies.pop(),
        opening=opening[0], opening_date=opening[1],
        closing=closing[0], closing_date=closing[1], lines=tuple(lines),
    )]  # fmt: skip


def _date(text: str | None, row: int) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise StatementError(f"row {row}: {str(text)[:20]!r} is not an ISO date") from None
