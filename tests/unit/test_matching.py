"""Matching statement lines to postings, as worked examples (payments.domain.matching).

The account is a payout account: the ledger credits it with each settlement payout
(the bank sees money going out: a negative amount) and the bank statement shows the
transfers to the merchants. Amounts in cents.
"""

from __future__ import annotations

from datetime import date

import pytest

from payments.domain.matching import BankLine, LedgerPosting, match, without_reported

DAY = date(2026, 11, 28)
PERIOD = (DAY, DAY)


def posting(posting_id: str, amount: int, day: date = DAY, reference: str = "") -> LedgerPosting:
    return LedgerPosting(posting_id, amount, day, reference, "settlement_payout", len(posting_id))


def test_an_end_to_end_id_matches_first_even_with_another_posting_of_the_same_amount() -> None:
    lines = [BankLine(1, -9_750, DAY, reference="BANK-1", end_to_end_id="b-2")]
    postings = [posting("p1", -9_750, reference="b-1"), posting("p2", -9_750, reference="b-2")]

    result = match(lines, postings, period=PERIOD)

    assert [(m.rule, m.lines, m.postings) for m in result.matches] == [
        ("end_to_end_id", (1,), ("p2",))
    ]
    # p1 is left: a posting of the day on no line
    assert [(b.kind, b.postings) for b in result.breaks] == [("unmatched_posting", ("p1",))]


def test_the_bank_reference_is_tried_when_the_end_to_end_id_names_nothing() -> None:
    lines = [BankLine(1, -500, DAY, reference="b-7", end_to_end_id="NOTOURS")]
    result = match(lines, [posting("p1", -500, reference="b-7")], period=PERIOD)
    assert [(m.rule, m.postings) for m in result.matches] == [("reference", ("p1",))]
    assert result.breaks == []


def test_a_reference_match_with_a_different_amount_stands_and_opens_an_exception() -> None:
    lines = [BankLine(1, -9_700, DAY, end_to_end_id="b-1")]  # the bank took a 50 cent fee
    result = match(lines, [posting("p1", -9_750, reference="b-1")], period=PERIOD)

    assert [(m.rule, m.difference) for m in result.matches] == [("end_to_end_id", 50)]
    [difference] = result.breaks
    assert (difference.kind, difference.amount, difference.lines) == ("amount_difference", 50, (1,))
    assert "difference 50" in difference.reason


def test_several_lines_naming_one_posting_are_one_match() -> None:
    lines = [
        BankLine(1, -6_000, DAY, end_to_end_id="t-1"),
        BankLine(2, -4_000, DAY, end_to_end_id="t-1"),
    ]
    result = match(lines, [posting("p1", -10_000, reference="t-1")], period=PERIOD)
    assert [(m.rule, m.lines, m.postings, m.difference) for m in result.matches] == [
        ("end_to_end_id", (1, 2), ("p1",), 0)
    ]


def test_amount_and_value_date_within_the_tolerance_then_the_nearest_day() -> None:
    lines = [BankLine(1, -2_000, date(2026, 11, 30))]
    postings = [
        posting("p-far", -2_000, date(2026, 11, 28)),
        posting("p-near", -2_000, date(2026, 11, 29)),
    ]
    result = match(lines, postings, period=(date(2026, 11, 29), date(2026, 11, 30)))
    assert [(m.rule, m.postings) for m in result.matches] == [("amount_date", ("p-near",))]
    # p-far lies before the period: not this statement's exception
    assert result.breaks == []
    assert result.unmatched_postings == 0


def test_beyond_the_tolerance_nothing_matches_and_both_sides_are_exceptions() -> None:
    lines = [BankLine(1, -2_000, date(2026, 12, 4))]
    result = match(
        lines, [posting("p1", -2_000)], period=(DAY, date(2026, 12, 4)), tolerance_days=2
    )
    assert result.matches == []
    assert sorted(b.kind for b in result.breaks) == ["unmatched_line", "unmatched_posting"]
    assert (result.unmatched_lines, result.unmatched_postings) == (1, 1)


def test_one_line_pays_out_several_batches() -> None:
    lines = [BankLine(1, -15_000, DAY, reference="SEPA-BATCH-77")]
    postings = [
        posting("p1", -7_000),
        posting("p2", -3_000),
        posting("p3", -5_000),
        posting("p4", -1_000),
    ]
    result = match(lines, postings, period=PERIOD)
    [found] = result.matches
    assert found.rule == "amount_date_many_postings"
    assert sum(p.amount for p in postings if p.posting_id in found.postings) == -15_000
    assert [b.postings for b in result.breaks] == [("p4",)]


def test_several_lines_add_up_to_one_posting() -> None:
    lines = [BankLine(1, 2_500, DAY), BankLine(2, 7_500, DAY), BankLine(3, 99, DAY)]
    result = match(lines, [posting("p1", 10_000)], period=PERIOD)
    assert [(m.rule, m.lines) for m in result.matches] == [("amount_date_many_lines", (1, 2))]
    assert [(b.kind, b.lines, b.amount) for b in result.breaks] == [("unmatched_line", (3,), 99)]


def test_money_in_never_matches_money_out() -> None:
    lines = [BankLine(1, 1_000, DAY)]
    result = match(lines, [posting("p1", -600), posting("p2", 1_600)], period=PERIOD)
    assert result.matches == []
    assert result.matched_lines == 0 and result.unmatched_lines == 1


def test_each_posting_is_used_once() -> None:
    lines = [BankLine(1, -500, DAY), BankLine(2, -500, DAY)]
    result = match(lines, [posting("p1", -500)], period=PERIOD)
    assert [m.postings for m in result.matches] == [("p1",)]
    assert [(b.kind, b.lines) for b in result.breaks] == [("unmatched_line", (2,))]
    assert (result.matched_lines, result.matched_postings) == (1, 1)


def test_nonsense_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="tolerance_days"):
        match([], [], period=PERIOD, tolerance_days=-1)


def test_a_posting_already_reported_by_an_earlier_statement_is_not_reported_again() -> None:
    result = match([BankLine(1, -50, DAY)], [posting("p1", -800), posting("p2", -900)],
                   period=PERIOD)  # fmt: skip
    second = without_reported(result, {"p1"})
    assert sorted(b.postings for b in second.breaks if b.kind == "unmatched_posting") == [("p2",)]
    assert second.unmatched_postings == 1 and second.unmatched_lines == 1
