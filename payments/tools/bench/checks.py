"""Correctness of a run: a fast engine that answers wrongly has no throughput.

- one outcome for every command published, none for anything else;
- every outcome is one the generator allows: accepted where it must be accepted,
  rejected with the expected code where it must be rejected (a settlement that may
  race its captures may be either accepted or `nothing_to_settle`);
- `payments verify` passed (projections equal the event store, audit chain intact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from payments.tools.bench.workload import ACCEPTED, Command

SHOWN = 20  # mismatches listed in the report; the count covers all of them


@dataclass
class Correctness:
    published: int = 0
    outcomes: int = 0
    missing: int = 0
    unexpected_outcomes: int = 0
    duplicate_outcomes: int = 0
    expected_rejections: int = 0
    rejected: int = 0
    mismatches: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    verify_passed: bool | None = None
    verify_output: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.published > 0
            and self.missing == 0
            and self.unexpected_outcomes == 0
            and self.mismatches == 0
            and self.verify_passed is True
            and not self.errors
        )

    def failures(self) -> list[str]:
        found = list(self.errors)
        if self.missing:
            found.append(f"{self.missing} of {self.published} commands got no outcome")
        if self.unexpected_outcomes:
            found.append(f"{self.unexpected_outcomes} outcomes for commands never published")
        if self.mismatches:
            found.append(f"{self.mismatches} outcomes differ from what the workload expects")
        if self.verify_passed is False:
            found.append("payments verify failed")
        if self.verify_passed is None:
            found.append("payments verify did not run")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failures": self.failures(),
            "published": self.published,
            "outcomes": self.outcomes,
            "missing": self.missing,
            "unexpected_outcomes": self.unexpected_outcomes,
            "duplicate_outcomes": self.duplicate_outcomes,
            "expected_rejections": self.expected_rejections,
            "rejected": self.rejected,
            "mismatches": self.mismatches,
            "mismatch_examples": self.examples,
            "verify_passed": self.verify_passed,
            "verify_output": self.verify_output[-2000:],
        }


def result_of(outcome: Mapping[str, Any]) -> str:
    return ACCEPTED if outcome.get("status") == ACCEPTED else str(outcome.get("code"))


def check_outcomes(
    published: Sequence[Command],
    outcomes: Mapping[str, Mapping[str, Any]],
    duplicates: int,
) -> Correctness:
    report = Correctness(published=len(published), duplicate_outcomes=duplicates)
    ids = {c.command_id for c in published}
    report.outcomes = sum(1 for command_id in outcomes if command_id in ids)
    report.unexpected_outcomes = sum(1 for command_id in outcomes if command_id not in ids)
    for command in published:
        if ACCEPTED not in command.expected:
            report.expected_rejections += 1
        outcome = outcomes.get(command.command_id)
        if outcome is None:
            report.missing += 1
            continue
        result = result_of(outcome)
        if result != ACCEPTED:
            report.rejected += 1
        if result not in command.expected:
            report.mismatches += 1
            if len(report.examples) < SHOWN:
                report.examples.append(
                    {
                        "command_id": command.command_id,
                        "type": command.type,
                        "expected": sorted(command.expected),
                        "got": result,
                        "message": outcome.get("message"),
                    }
                )
    return report
