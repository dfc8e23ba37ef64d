"""The benchmark workload: the same seed gives the same commands, with the stated mix,
and outcomes are checked against what the workload expects."""

from __future__ import annotations

from collections import Counter

from payments.domain.commands import parse_envelope
from payments.domain.errors import Rejection
from payments.tools.bench.checks import check_outcomes
from payments.tools.bench.workload import ACCEPTED, SIZES, Command, generate

QUICK = SIZES["quick"]


def test_the_same_seed_gives_the_same_commands() -> None:
    first, second = generate(7, QUICK), generate(7, QUICK)
    assert [c.envelope for c in first.main_commands()] == [
        c.envelope for c in second.main_commands()
    ]
    assert [[c.envelope for c in wave] for wave in first.setup] == [
        [c.envelope for c in wave] for wave in second.setup
    ]


def test_another_seed_gives_other_commands() -> None:
    assert [c.envelope for c in generate(1, QUICK).throughput] != [
        c.envelope for c in generate(2, QUICK).throughput
    ]


def test_every_command_type_of_the_mix_is_there_in_proportion() -> None:
    workload = generate(1, QUICK)
    assert len(workload.throughput) == QUICK.throughput_commands
    share = {t: n / len(workload.throughput) for t, n in workload.mix().items()}
    assert 0.20 < share["transfer"] < 0.40
    assert 0.18 < share["authorize_payment"] < 0.35
    assert 0.10 < share["capture_payment"] < 0.30
    for rare in ("refund_payment", "void_payment", "chargeback_payment", "settle_merchant"):
        assert share[rare] > 0


def test_about_five_percent_must_be_rejected_for_several_reasons() -> None:
    commands = generate(1, QUICK).main_commands()
    rejected = [c for c in commands if ACCEPTED not in c.expected]
    assert 0.03 < len(rejected) / len(commands) < 0.07
    codes = Counter(next(iter(c.expected)) for c in rejected)
    assert {
        "insufficient_funds",
        "account_not_found",
        "amount_exceeds_authorized",
        "amount_exceeds_captured",
        "payment_not_found",
        "invalid_amount",
        "same_account",
        "nothing_to_settle",
    } <= set(codes)


def test_only_settlements_of_active_merchants_have_an_open_result() -> None:
    for command in generate(3, QUICK).main_commands():
        if len(command.expected) > 1:
            assert command.type == "settle_merchant"
            assert command.expected == {ACCEPTED, "nothing_to_settle"}


def test_setup_opens_every_account_then_funds_customers_for_all_their_debits() -> None:
    workload = generate(1, QUICK)
    opens, fundings = workload.setup
    assert {c.type for c in opens} == {"open_account"}
    opened = {c.envelope["payload"]["account_id"] for c in opens}
    debited: Counter[str] = Counter()
    for command in workload.main_commands():
        payload = command.envelope["payload"]
        if command.expected == {ACCEPTED} and command.type == "transfer":
            debited[payload["from_account"]] += payload["amount"]
        if command.expected == {ACCEPTED} and command.type == "authorize_payment":
            debited[payload["payer_account"]] += payload["amount"]
    payloads = [c.envelope["payload"] for c in fundings]
    funded = {payload["to_account"]: payload["amount"] for payload in payloads}
    assert set(debited) <= set(funded) <= opened
    assert all(funded[account] > amount for account, amount in debited.items())


def test_every_command_id_is_unique_and_every_envelope_is_well_formed_or_meant_not_to_be() -> None:
    workload = generate(1, QUICK)
    everything = [c for wave in workload.setup for c in wave] + workload.main_commands()
    assert len({c.command_id for c in everything}) == len(everything)
    for command in everything:
        try:
            parse_envelope(command.envelope)
        except Rejection as rejection:
            assert command.expected == {rejection.code}


def test_a_payment_keeps_its_key_so_its_commands_stay_in_order() -> None:
    for command in generate(1, QUICK).throughput:
        payment_id = command.envelope["payload"].get("payment_id")
        if payment_id is not None:
            assert command.key == payment_id


def _outcome(command: Command, result: str) -> dict[str, object]:
    accepted = result == ACCEPTED
    return {
        "command_id": command.command_id,
        "status": "accepted" if accepted else "rejected",
        "code": None if accepted else result,
    }


def test_outcomes_as_the_workload_expects_pass_the_checks() -> None:
    commands = generate(1, QUICK).throughput[:300]
    outcomes = {c.command_id: _outcome(c, sorted(c.expected)[0]) for c in commands}
    report = check_outcomes(commands, outcomes, duplicates=0)
    report.verify_passed = True
    assert report.passed, report.failures()
    assert report.outcomes == report.published == 300


def test_a_missing_outcome_or_a_wrong_code_fails_the_run() -> None:
    commands = generate(1, QUICK).throughput[:300]
    rejected = next(c for c in commands[1:] if ACCEPTED not in c.expected)
    outcomes = {c.command_id: _outcome(c, sorted(c.expected)[0]) for c in commands[1:]}
    outcomes[rejected.command_id] = _outcome(rejected, ACCEPTED)
    report = check_outcomes(commands, outcomes, duplicates=0)
    report.verify_passed = True
    assert not report.passed
    assert report.missing == 1
    assert report.mismatches == 1
    assert report.examples[0]["command_id"] == rejected.command_id


def test_the_risk_rules_come_first_and_are_a_valid_rule_set_that_changes_no_expectation():
    from payments.domain.commands import SetRiskRules

    plain, ruled = generate(1, QUICK), generate(1, QUICK, risk_rules=True)
    (rules,) = ruled.setup[0]
    assert rules.type == "set_risk_rules" and rules.expected == {"accepted"}
    parsed = SetRiskRules.model_validate(rules.envelope["payload"])
    assert parsed.cooling_off and parsed.maximums and parsed.velocity
    assert ruled.setup[1:] == plain.setup
    assert [c.envelope for c in ruled.throughput] == [c.envelope for c in plain.throughput]
