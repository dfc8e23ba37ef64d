"""Statement lines against the ledger's postings on one external account: pure, no I/O.

Amounts are signed minor units as the bank sees them: a line's amount from the
statement, a posting's as minus its change of the external account's posted balance
(the ledger's external account is the other side of the bank's money: a top-up from
the bank debits it, a payout to a merchant credits it). Rules, in this order, each
taking only what the ones before left:

1. `end_to_end_id`, then `reference`: a line's end-to-end id, else its bank reference,
   equal to a posting's `reference` (transfer, payment or batch id) or its
   `posting_id`. Every line naming the same key and every posting it names are one
   match (one line for several postings, several lines for one posting); if their
   sums differ, the match stands and an `amount_difference` exception says by how much.
2. `amount_date`: one line, one posting of the same amount, value date within
   ±`tolerance_days` of the posting's day (the nearest day, then the earliest posting).
3. `amount_date_many_postings`: one line, 2..`max_group` postings within the tolerance
   whose amounts add up to it (a payout of several batches), the first combination in
   ledger order.
4. `amount_date_many_lines`: several lines adding up to one posting, likewise.

What is left becomes an exception: every line (`unmatched_line`) and every posting of
the statement's period (`unmatched_posting`, once: `without_reported` drops a posting
an earlier statement already reported); a posting outside the period but within the
tolerance may match, and is otherwise left for the statement of its own day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TOLERANCE_DAYS = 2
MAX_GROUP = 4
_CANDIDATES = 16  # postings (or lines) tried for a combination: C(16, 4) = 1820 sums at most


@dataclass(frozen=True)
class BankLine:
    line: int
    amount: int
    value_date: date
    reference: str = ""
    end_to_end_id: str = ""


@dataclass(frozen=True)
class LedgerPosting:
    posting_id: str
    amount: int  # as the bank sees it: minus the external account's posted change
    day: date
    reference: str = ""
    reason: str = ""
    position: int = 0


@dataclass(frozen=True)
class Match:
    rule: str
    lines: tuple[int, ...]
    postings: tuple[str, ...]
    difference: int = 0  # Σ lines − Σ postings (0 but for a reference match)


@dataclass(frozen=True)
class Break:
    kind: str  # unmatched_line | unmatched_posting | amount_difference
    lines: tuple[int, ...]
    postings: tuple[str, ...]
    amount: int
    value_date: date
    reason: str


@dataclass
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    unmatched_lines: int = 0
    unmatched_postings: int = 0

    @property
    def matched_lines(self) -> int:
        return sum(len(m.lines) for m in self.matches)

    @property
    def matched_postings(self) -> int:
        return sum(len(m.postings) for m in self.matches)


def match(
    lines: Sequence[BankLine],
    postings: Sequence[LedgerPosting],
    *,
    period: tuple[date, date],
    tolerance_days: int = DEFAULT_TOLERANCE_DAYS,
    max_group: int = MAX_GROUP,
) -> MatchResult:
    if tolerance_days < 0 or max_group < 1:
        raise ValueError("tolerance_days must be >= 0 and max_group >= 1")
    result = MatchResult()
    open_lines = {x.line: x for x in lines}
    open_postings = {p.posting_id: p for p in sorted(postings, key=lambda p: p.position)}
    _by_reference(open_lines, open_postings, result)
    _one_to_one(open_lines, open_postings, tolerance_days, result)
    for line in list(open_lines.values()):
        near = _near(open_postings.values(), line.value_date, tolerance_days, line.amount)
        group = _combination(near, line.amount, max_group, lambda p: p.amount)
        if group:
            result.matches.append(Match("amount_date_many_postings", (line.line,),
                                        tuple(p.posting_id for p in group)))  # fmt: skip
            del open_lines[line.line]
            for posting in group:
                del open_postings[posting.posting_id]
    for posting in list(open_postings.values()):
        near_lines = [
            x
            for x in open_lines.values()
            if abs((x.value_date - posting.day).days) <= tolerance_days
            and (x.amount > 0) == (posting.amount > 0)
        ][:_CANDIDATES]
        group_lines = _combination(near_lines, posting.amount, max_group, lambda x: x.amount)
        if group_lines:
            lines_of = tuple(x.line for x in group_lines)
            result.matches.append(Match("amount_date_many_lines", lines_of, (posting.posting_id,)))
            del open_postings[posting.posting_id]
            for x in group_lines:
                del open_lines[x.line]
    _leftovers(open_lines, open_postings, period, tolerance_days, result)
    return result


def _keys(line: BankLine) -> list[tuple[str, str]]:
    named = (("end_to_end_id", line.end_to_end_id), ("reference", line.reference))
    return [(rule, key) for rule, key in named if key]


def _by_reference(
    open_lines: dict[int, BankLine], open_postings: dict[str, LedgerPosting], result: MatchResult
) -> None:
    index: dict[str, list[LedgerPosting]] = {}
    for posting in open_postings.values():
        for key in {posting.reference, posting.posting_id} - {""}:
            index.setdefault(key, []).append(posting)
    groups: dict[str, tuple[str, list[BankLine]]] = {}
    for line in open_lines.values():
        for rule, key in _keys(line):
            if key in index:
                groups.setdefault(key, (rule, []))[1].append(line)
                break
    for key, (rule, group_lines) in groups.items():
        group = [p for p in index[key] if p.posting_id in open_postings]
        if not group:
            continue
        difference = sum(x.amount for x in group_lines) - sum(p.amount for p in group)
        found = Match(rule, tuple(x.line for x in group_lines),
                      tuple(p.posting_id for p in group), difference)  # fmt: skip
        result.matches.append(found)
        if difference:
            result.breaks.append(Break(
                "amount_difference", found.lines, found.postings, difference,
                group_lines[0].value_date,
                f"{rule} {key}: the statement says {sum(x.amount for x in group_lines)}, "
                f"the ledger {sum(p.amount for p in group)} (difference {difference})",
            ))  # fmt: skip
        for x in group_lines:
            del open_lines[x.line]
        for p in group:
            del open_postings[p.posting_id]


def _near(
    postings: Iterable[LedgerPosting], day: date, tolerance_days: int, amount: int
) -> list[LedgerPosting]:
    return [
        p
        for p in postings
        if abs((p.day - day).days) <= tolerance_days and (p.amount > 0) == (amount > 0)
    ][:_CANDIDATES]


def _one_to_one(
    open_lines: dict[int, BankLine],
    open_postings: dict[str, LedgerPosting],
    tolerance_days: int,
    result: MatchResult,
) -> None:
    for line in list(open_lines.values()):
        same = [
            p
            for p in open_postings.values()
            if p.amount == line.amount and abs((p.day - line.value_date).days) <= tolerance_days
        ]
        if not same:
            continue
        best = min(same, key=lambda p: (abs((p.day - line.value_date).days), p.position))
        result.matches.append(Match("amount_date", (line.line,), (best.posting_id,)))
        del open_lines[line.line]
        del open_postings[best.posting_id]


def _combination(
    items: list[T], total: int, max_group: int, amount_of: Callable[[T], int]
) -> list[T]:
    for size in range(2, min(max_group, len(items)) + 1):
        for group in combinations(items, size):
            if sum(amount_of(item) for item in group) == total:
                return list(group)
    return []


def _leftovers(
    open_lines: dict[int, BankLine],
    open_postings: dict[str, LedgerPosting],
    period: tuple[date, date],
    tolerance_days: int,
    result: MatchResult,
) -> None:
    for line in open_lines.values():
        named = " or ".join(f"{rule} {key}" for rule, key in _keys(line))
        result.breaks.append(Break(
            "unmatched_line", (line.line,), (), line.amount, line.value_date,
            f"line {line.line}: no posting " + (f"with {named}, nor " if named else "")
            + f"of {line.amount} within {tolerance_days} day(s) of {line.value_date}",
        ))  # fmt: skip
    result.unmatched_lines = len(open_lines)
    start, end = period
    inside = [p for p in open_postings.values() if start <= p.day <= end]
    for posting in inside:
        result.breaks.append(Break(
            "unmatched_posting", (), (posting.posting_id,), posting.amount, posting.day,
            f"posting {posting.posting_id} ({posting.reason} {posting.reference}) of "
            f"{posting.amount} on {posting.day}: on no line of the statement",
        ))  # fmt: skip
    result.unmatched_postings = len(inside)


def without_reported(result: MatchResult, reported: set[str]) -> MatchResult:
    """`result` less the unmatched postings an earlier statement already made exceptions
    of (two statements of one day must not open two exceptions for one posting); they
    could still match, and then do."""
    kept = [
        b for b in result.breaks
        if not (b.kind == "unmatched_posting" and set(b.postings) <= reported)
    ]  # fmt: skip
    return MatchResult(
        result.matches, kept, result.unmatched_lines,
        sum(b.kind == "unmatched_posting" for b in kept),
    )  # fmt: skip
