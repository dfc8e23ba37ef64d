"""A statement as CSV (`Accept: text/csv`): one row per line, amounts in minor units.

An `opening` row first and a `closing` row last (its credit and debit columns are
the period's totals), so a spreadsheet sums the postings and checks them itself.
"""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = (
    "line",
    "position",
    "recorded_at",
    "event_type",
    "posting_id",
    "counterparty",
    "reason",
    "reference",
    "credit",
    "debit",
    "balance",
    "currency",
)


def render_csv(view: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(COLUMNS)
    currency = view["currency"]
    start, end = view["from"].isoformat(), view["to"].isoformat()
    writer.writerow(
        ["opening", "", start, "", "", "", "", "", "", "", view["opening_balance"], currency]
    )
    for line in view["postings"]:
        amount = line["amount"]
        writer.writerow(
            [
                "posting",
                line["position"],
                line["recorded_at"].isoformat(),
                line["event_type"],
                line["posting_id"] or "",
                line["counterparty"] or "",
                line["reason"] or "",
                line["reference"] or "",
                amount if amount > 0 else "",
                -amount if amount < 0 else "",
                line["balance"],
                currency,
            ]
        )
    writer.writerow(
        [
            "closing",
            view["position"],
            end,
            "",
            "",
            "",
            "",
            "",
            view["total_credits"],
            view["total_debits"],
            view["closing_balance"],
            currency,
        ]
    )
    return out.getvalue()
