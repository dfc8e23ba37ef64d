"""ISO 20022 camt.053 (BankToCustomerStatement), any version, read with lxml.

Per `Stmt`: the account (`Acct/Id/IBAN` or `Othr/Id`), the balances `Bal` whose
`Tp/CdOrPrtry/Cd` is OPBD (opening; PRCD, the previous closing, if there is none) and
CLBD (closing), each `Amt Ccy=…` with `CdtDbtInd` CRDT (+) or DBIT (−); the entries
`Ntry` with their amount and sign (a reversal, `RvslInd` true, keeps the sign its
`CdtDbtInd` gives: ISO 20022 states the reversed direction there), `BookgDt`, `ValDt`
(`Dt` or `DtTm`), `AcctSvcrRef` and the first `NtryDtls/TxDtls/Refs/EndToEndId`
(`NOTPROVIDED` counts as none). Only booked entries (`Sts` BOOK, or no status) count.
Namespaces are matched by local name, so every camt.053 version reads the same.
The parser refuses DTDs and entities (no XXE, no billion laughs).
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from payments.integrations.statements.model import (
    BankStatement,
    StatementError,
    StatementLine,
    checked_currency,
    minor_units,
    short_text,
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)  # fmt: skip


def _all(node: etree._Element, path: str) -> list[etree._Element]:
    """Children along `path` (slash-separated local names), any namespace."""
    steps = "/".join(f"*[local-name()='{step}']" for step in path.split("/"))
    return list(node.xpath(steps))


def _one(node: etree._Element, path: str) -> etree._Element | None:
    found = _all(node, path)
    return found[0] if found else None


def _text(node: etree._Element, path: str) -> str:
    found = _one(node, path)
    return (found.text or "").strip() if found is not None else ""


def _date_of(node: etree._Element | None) -> date | None:
    if node is None:
        return None
    text = _text(node, "Dt") or _text(node, "DtTm")[:10]
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise StatementError(f"{text[:20]!r} is not an ISO date") from None


def _signed(node: etree._Element) -> tuple[int, str]:
    amount = _one(node, "Amt")
    if amount is None:
        raise StatementError("an entry or balance without Amt")
    currency = checked_currency(amount.get("Ccy", ""))
    value = minor_units(amount.text or "", currency)
    sign = _text(node, "CdtDbtInd")
    if sign not in ("CRDT", "DBIT"):
        raise StatementError(f"CdtDbtInd {sign[:8]!r} is neither CRDT nor DBIT")
    return (value if sign == "CRDT" else -value), currency


def parse_camt053(data: bytes) -> list[BankStatement]:
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise StatementError(f"not XML: {str(error)[:120]}") from None
    statements = _all(root, "BkToCstmrStmt/Stmt")
    if etree.QName(root).localname != "Document" or not statements:
        raise StatementError("not a camt.053 document (Document/BkToCstmrStmt/Stmt)")
    return [_statement(stmt) for stmt in statements]


def _statement(stmt: etree._Element) -> BankStatement:
    balances: dict[str, tuple[int, str, date | None]] = {}
    for bal in _all(stmt, "Bal"):
        code = _text(bal, "Tp/CdOrPrtry/Cd")
        amount, currency = _signed(bal)
        balances.setdefault(code, (amount, currency, _date_of(_one(bal, "Dt"))))
    opening = balances.get("OPBD") or balances.get("PRCD")
    closing = balances.get("CLBD")
    if opening is None or closing is None:
        raise StatementError("a camt.053 Stmt needs an OPBD (or PRCD) and a CLBD balance")
    currency = closing[1]
    lines = []
    for entry in _all(stmt, "Ntry"):
        status = _text(entry, "Sts/Cd") or _text(entry, "Sts")
        if status not in ("", "BOOK"):
            continue
        amount, entry_currency = _signed(entry)
        if entry_currency != currency:
            raise StatementError(f"an entry in {entry_currency} on a {currency} statement")
        value_date = _date_of(_one(entry, "ValDt")) or _date_of(_one(entry, "BookgDt"))
        if value_date is None:
            raise StatementError("an entry with neither ValDt nor BookgDt")
        end_to_end = _text(entry, "NtryDtls/TxDtls/Refs/EndToEndId")
        lines.append(StatementLine(
            line=len(lines) + 1, amount=amount, value_date=value_date,
            booking_date=_date_of(_one(entry, "BookgDt")),
            reference=short_text(_text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")),
            end_to_end_id="" if end_to_end == "NOTPROVIDED" else short_text(end_to_end),
        ))  # fmt: skip
    account = _text(stmt, "Acct/Id/IBAN") or _text(stmt, "Acct/Id/Othr/Id")
    closing_date = closing[2] or max((x.value_date for x in lines), default=None)
    opening_date = opening[2] or closing_date
    if opening_date is None or closing_date is None:
        raise StatementError("the statement's balances carry no dates")
    return BankStatement(
        format="camt053", bank_statement_id=short_text(_text(stmt, "Id")),
        bank_account=short_text(account), currency=currency,
        opening=opening[0], opening_date=opening_date,
        closing=closing[0], closing_date=closing_date, lines=tuple(lines),
    )  # fmt: skip
