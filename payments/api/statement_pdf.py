"""A statement as a PDF a person reads (`Accept: application/pdf`), with fpdf2.

A4, the account and period on top, the opening balance, a table of postings with
their running balance, totals and the closing balance, and a footer saying what it
was computed from. Amounts in major units of the currency (payments.api.money);
fpdf2's core Helvetica covers Latin-1 only, so other characters are replaced.
"""

from __future__ import annotations

from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from payments.api.money import major

# (heading, width in mm, alignment): 190 mm of an A4 page inside 10 mm margins.
TABLE = (
    ("Date (UTC)", 34, "L"),
    ("Description", 62, "L"),
    ("Reference", 34, "L"),
    ("Debit", 20, "R"),
    ("Credit", 20, "R"),
    ("Balance", 20, "R"),
)


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _describe(line: dict[str, Any]) -> str:
    """e.g. "transfer, from card-network" or "capture, to cafe"."""
    what = line["reason"] or line["event_type"].removeprefix("Account.").lower()
    if not line["counterparty"]:
        return what
    return f"{what}, {'from' if line['amount'] > 0 else 'to'} {line['counterparty']}"


def render_pdf(view: dict[str, Any]) -> bytes:
    currency = view["currency"]
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"Statement {view['account_id']}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Account statement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    for label, value in (
        ("Account", view["account_id"]),
        ("Currency", currency),
        ("Period", f"{_when(view['from'])} to {_when(view['to'])} (UTC, end excluded)"),
    ):
        pdf.cell(30, 6, label)
        pdf.cell(0, 6, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0,
        7,
        f"Opening balance: {major(view['opening_balance'], currency)} {currency}",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_fill_color(230, 230, 230)
    for heading, width, align in TABLE:
        pdf.cell(width, 7, heading, border=1, align=align, fill=True)
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for line in view["postings"]:
        amount = line["amount"]
        cells = (
            _when(line["recorded_at"]),
            _latin1(_describe(line))[:40],
            _latin1(line["reference"] or line["posting_id"] or "")[:22],
            major(-amount, currency) if amount < 0 else "",
            major(amount, currency) if amount > 0 else "",
            major(line["balance"], currency),
        )
        for text, (_, width, align) in zip(cells, TABLE, strict=True):
            pdf.cell(width, 6, text, border=1, align=align)
        pdf.ln()
    if not view["postings"]:
        pdf.cell(190, 6, "No postings in this period.", border=1, align="C")
        pdf.ln()
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10)
    for label, amount in (
        ("Total debits", view["total_debits"]),
        ("Total credits", view["total_credits"]),
    ):
        pdf.cell(40, 6, label)
        pdf.cell(
            40,
            6,
            f"{major(amount, currency)} {currency}",
            align="R",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(
        0,
        8,
        f"Closing balance: {major(view['closing_balance'], currency)} {currency}",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(
        0,
        4,
        _latin1(
            f"Computed from the audit log up to position {view['position']}. "
            "Opening + credits - debits = closing. Amounts in major units of the currency."
        ),
    )
    return bytes(pdf.output())
