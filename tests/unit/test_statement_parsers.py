"""Bank statements read into integer minor units: real-world samples of each format.

The samples' origins are in tests/fixtures/statements/README.md: MT940 from the mt-940
package's own test data (WoLpH/mt940), camt.053 from genkgo/camt's test data. Each
test reads a file as the bank (or the library's authors) wrote it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from payments.domain.currencies import exponent
from payments.integrations.statements.camt053 import parse_camt053
from payments.integrations.statements.model import (
    StatementError,
    StatementUnbalanced,
    minor_units,
)
from payments.integrations.statements.mt940 import parse_mt940
from payments.integrations.statements.reading import detect, read_statements

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# --- MT940 --------------------------------------------------------------------------


def test_mt940_generic_two_statements_of_one_account() -> None:
    first, second = read_statements(sample("jejik-generic.sta"))
    assert (first.format, first.bank_statement_id, first.bank_account) == (
        "mt940", "GENERIC/1", "11111111",
    )  # fmt: skip
    assert (first.currency, first.opening, first.closing) == ("EUR", 10_000, 9_000)
    assert (first.opening_date, first.closing_date) == (date(2011, 1, 1), date(2011, 2, 1))
    [line] = first.lines
    assert (line.amount, line.value_date, line.reference) == (-1_000, date(2011, 1, 1), "")
    assert second.opening == first.closing and second.closing == 8_000


def test_mt940_german_sepa_reversal_of_a_credit_is_money_out() -> None:
    first, second = read_statements(sample("betterplace-sepa-excerpt.sta"))
    # :60F:D070903EUR1234718,36 — a debit balance is negative
    assert (first.opening, first.closing) == (-123_471_836, -123_762_823)
    by_line = {x.line: x for x in first.lines}
    assert by_line[1].end_to_end_id == "TFNR 40005 00005"  # EREF+, cut before MTLG:
    assert by_line[1].reference == "0724710345313905"  # the bank's //reference
    assert by_line[6].amount == -20_488  # :61:…RCR204,88: reversal of a credit
    assert by_line[7].amount == -99_994_695
    assert second.lines[0].end_to_end_id == "EndToEndIdTFNR2000400001"


def test_mt940_abn_amro_export_does_not_add_up_and_is_refused_with_the_difference() -> None:
    data = sample("jejik-abnamro.sta")
    first, second = parse_mt940(data)  # read as it is: header lines, :60M:/:62M:
    assert first.bank_statement_id == "ABN AMRO BANK NV/19321/1"
    assert (first.opening, first.closing, len(first.lines)) == (323_628, 87_684, 8)
    assert (second.opening, second.closing) == (287_684, 184_975)  # intermediate balances
    with pytest.raises(StatementUnbalanced) as refused:
        read_statements(data)
    # 876.84 - (3236.28 - 321.44): the sample's own numbers do not agree
    assert (refused.value.difference, refused.value.currency) == (-203_800, "EUR")
    assert "by -203800 minor units of EUR" in str(refused.value)


def test_mt940_without_balances_is_not_a_statement() -> None:
    with pytest.raises(StatementError, match="not an MT940 file"):
        parse_mt940(b":20:X\n:25:1\n:61:110101D10,00N000NONREF\n-\n")


# --- camt.053 -----------------------------------------------------------------------


def test_camt053_two_statements_with_end_to_end_ids() -> None:
    first, second = read_statements(sample("genkgo-camt053.v2.multi.statement.xml"))
    assert (first.format, first.bank_statement_id, first.bank_account, first.currency) == (
        "camt053", "253EURNL26VAYB8060476890", "NL26VAYB8060476890", "EUR",
    )  # fmt: skip
    assert (first.opening, first.closing) == (1_815, 2_700)
    [line] = first.lines
    assert (line.amount, line.value_date, line.booking_date, line.end_to_end_id) == (
        885, date(2015, 1, 2), date(2014, 12, 31), "000000001",
    )  # fmt: skip
    assert [x.amount for x in second.lines] == [-700]  # DBIT
    assert (second.opening, second.closing) == (2_700, 2_000)


def camt(entries: str, closing: str = "27.00", namespace: str = "camt.053.001.08") -> bytes:
    return f"""<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{namespace}"><BkToCstmrStmt><Stmt>
<Id>S-1</Id><Acct><Id><Othr><Id>12345</Id></Othr></Id></Acct>
<Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">18.15</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-27</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-28</Dt></Dt></Bal>{entries}
</Stmt></BkToCstmrStmt></Document>""".encode()


ENTRY = """<Ntry><Amt Ccy="EUR">8.85</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>{status}</Cd></Sts>
<BookgDt><DtTm>2026-11-28T09:00:00</DtTm></BookgDt><AcctSvcrRef>R-1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"""


def test_camt053_version_8_previous_closing_booked_entries_only() -> None:
    pending = ENTRY.format(status="PDNG").replace("8.85", "100.00")
    [statement] = read_statements(camt(ENTRY.format(status="BOOK") + pending))
    assert statement.bank_account == "12345" and statement.opening == 1_815
    [line] = statement.lines  # the pending entry is not on the statement yet
    assert (line.value_date, line.reference, line.end_to_end_id) == (date(2026, 11, 28), "R-1", "")


def test_camt053_refuses_dtds_and_entities() -> None:
    bomb = (
        b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]><Document>&a;</Document>"""
    )
    with pytest.raises(StatementError):
        parse_camt053(bomb)


def test_camt053_that_is_not_a_statement() -> None:
    with pytest.raises(StatementError, match=r"not a camt\.053 document"):
        parse_camt053(b"<Document><BkToCstmrAcctRpt/></Document>")
    with pytest.raises(StatementError, match="not XML"):
        parse_camt053(b"<Document>")


def test_camt053_unbalanced_is_refused_with_the_difference() -> None:
    with pytest.raises(StatementUnbalanced, match="by 100 minor units of EUR"):
        read_statements(camt(ENTRY.format(status="BOOK"), closing="28.00"))


# --- CSV ----------------------------------------------------------------------------

CSV = """kind,date,amount,currency,reference,end_to_end_id,statement_id,payee
opening,2026-11-27,1000.00,JPY,,,,
line,2026-11-28,-250,JPY,R-1,b-1,,Someone
closing,2026-11-28,750,JPY,,,,
"""


def test_csv_in_major_units_with_the_currencys_exponent() -> None:
    [statement] = read_statements(CSV.encode(), "csv")
    assert (statement.opening, statement.closing, statement.currency) == (1_000, 750, "JPY")
    assert len(statement.bank_statement_id) == 16  # no statement_id: the file's hash
    assert statement.lines[0].amount == -250 and statement.lines[0].end_to_end_id == "b-1"


@pytest.mark.parametrize(
    "change, message",
    [
        (("-250,JPY", "-250.5,JPY"), "more decimals than JPY has"),
        (("-250,JPY", "-2x0,JPY"), "is not a decimal number"),
        (("2026-11-28,-250", "28.11.2026,-250"), "is not an ISO date"),
        (("line,", "fee,"), "kind 'fee'"),
        (("JPY,R-1", "EUR,R-1"), "one currency per statement"),
        (("JPY,R-1", "XYZ,R-1"), "not a current ISO 4217 code"),
        (("kind,date", "type,date"), "lacks the column"),
    ],
)
def test_csv_mistakes_each_have_their_own_error(change: tuple[str, str], message: str) -> None:
    with pytest.raises(StatementError, match=message):
        read_statements(CSV.replace(*change).encode(), "csv")


# --- amounts, formats ---------------------------------------------------------------


def test_minor_units_are_exact_and_never_rounded() -> None:
    assert minor_units("123.45", "EUR") == 12_345
    assert minor_units("1,5", "EUR") == 150  # the decimal comma of MT940
    assert minor_units("1.234", "BHD") == 1_234 and exponent("BHD") == 3
    with pytest.raises(StatementError, match="more decimals"):
        minor_units("0.001", "EUR")
    with pytest.raises(StatementError, match="not a finite number"):
        minor_units("NaN", "EUR")


def test_the_format_is_recognised_from_the_first_bytes() -> None:
    assert detect(sample("genkgo-camt053.v2.multi.statement.xml")) == "camt053"
    assert detect(sample("jejik-abnamro.sta")) == "mt940"
    assert detect(CSV.encode()) == "csv"
    with pytest.raises(StatementError, match="format 'ofx'"):
        read_statements(CSV.encode(), "ofx")
