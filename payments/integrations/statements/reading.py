"""Which format a file is in, and its statements: every one checked to add up."""

from __future__ import annotations

from payments.integrations.statements.camt053 import parse_camt053
from payments.integrations.statements.csv_format import parse_csv
from payments.integrations.statements.model import BankStatement, StatementError
from payments.integrations.statements.mt940 import parse_mt940

PARSERS = {"csv": parse_csv, "camt053": parse_camt053, "mt940": parse_mt940}
MAX_FILE = 16 * 1024 * 1024


def detect(data: bytes) -> str:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "camt053"
    if b":20:" in head or b":60F:" in head or head.startswith(b"{1:"):
        return "mt940"
    return "csv"


def read_statements(data: bytes, format: str | None = None) -> list[BankStatement]:
    """The file's statements, each balanced, or StatementError (unbalanced: by how much)."""
    if len(data) > MAX_FILE:
        raise StatementError(f"the file is over {MAX_FILE} bytes")
    chosen = format or detect(data)
    if chosen not in PARSERS:
        raise StatementError(f"format {chosen!r}: one of {', '.join(PARSERS)}")
    statements = PARSERS[chosen](data)
    for statement in statements:
        statement.check_balanced()
    return statements
