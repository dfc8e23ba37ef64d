"""Metrics as worked examples: a batch, a relayed page, a projection, a stall."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from payments.runtime.observability.health import HealthMonitor, HealthReport, LagTrend
from payments.runtime.observability.metrics import Metrics
from payments.runtime.observability.server import metrics_port
from payments.runtime.settings import Settings


@dataclass(frozen=True)
class Report:
    commands: int
    dead_letters: int
    seconds: float


@dataclass(frozen=True)
class Outcome:
    type: str | None
    status: str
    code: str | None
    replayed: bool = False


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_batch_counts_commands_by_type_and_outcome(metrics: Metrics) -> None:
    outcomes = [
        Outcome("transfer", "accepted", None),
        Outcome("transfer", "accepted", None, replayed=True),
        Outcome("transfer", "rejected", "insufficient_funds"),
        Outcome("open_account", "rejected", "invalid_currency"),
    ]
    metrics.record_batch(Report(commands=4, dead_letters=1, seconds=0.02), outcomes)

    def commands(type_: str, status: str, code: str) -> float | None:
        return sample(metrics, "payments_commands_total", type=type_, status=status, code=code)

    assert commands("transfer", "accepted", "") == 2
    assert commands("transfer", "rejected", "insufficient_funds") == 1
    assert commands("open_account", "rejected", "invalid_currency") == 1
    assert sample(metrics, "payments_commands_replayed_total", type="transfer") == 1
    assert sample(metrics, "payments_dead_letters_total") == 1
    # Five records in the batch; 0.02 s over 4 commands is 5 ms per command.
    assert sample(metrics, "payments_batch_commands_sum") == 5
    assert sample(metrics, "payments_batch_duration_seconds_count") == 1
    assert sample(metrics, "payments_command_decision_seconds_sum") == pytest.approx(0.005)


def test_invented_types_and_codes_share_one_label_value(metrics: Metrics) -> None:
    outcomes = [Outcome(f"made_up_{i}", "rejected", "unknown_command_type") for i in range(50)] + [
        Outcome(None, "rejected", "invalid_command"),
        Outcome("transfer", "rejected", "weird"),
    ]
    metrics.record_batch(Report(commands=52, dead_letters=0, seconds=0.1), outcomes)

    text = generate_latest(metrics.registry).decode()
    assert "made_up" not in text
    labels = {"status": "rejected", "code": "unknown_command_type"}
    assert sample(metrics, "payments_commands_total", type="unknown", **labels) == 50
    assert (
        sample(
            metrics,
            "payments_commands_total",
            type="none",
            status="rejected",
            code="invalid_command",
        )
        == 1
    )
    assert (
        sample(metrics, "payments_commands_total", type="transfer", status="rejected", code="other")
        == 1
    )


def test_a_batch_of_only_dead_letters_observes_no_decision_time(metrics: Metrics) -> None:
    metrics.record_batch(Report(commands=0, dead_letters=3, seconds=0.01), [])
    assert sample(metrics, "payments_command_decision_seconds_count") == 0
    assert sample(metrics, "payments_dead_letters_total") == 3


def test_lag_is_store_position_minus_relay_and_projection_positions(metrics: Metrics) -> None:
    metrics.record_store_position(100)
    metrics.record_relay(60, 60)
    metrics.record_projection("balances", 40)
    metrics.record_projection("audit", 60)

    assert metrics.lags() == {"relay": 40, "audit": 40, "balances": 60}
    assert sample(metrics, "payments_relay_lag_events") == 40
    assert sample(metrics, "payments_consumer_lag_events", projection="balances") == 60
    assert sample(metrics, "payments_relay_events_total") == 60

    # The relay caught up past the last sample of the store: lag is 0, not negative.
    metrics.record_relay(130, 70)
    assert metrics.lags()["relay"] == 0
    assert sample(metrics, "payments_store_position") == 130


def test_a_projection_position_never_goes_back(metrics: Metrics) -> None:
    metrics.record_store_position(50)
    metrics.record_projection("balances", 30)
    metrics.record_projection("balances", 20)  # a late partition with older events
    assert metrics.lags()["balances"] == 20


def test_no_lag_is_known_before_any_position(metrics: Metrics) -> None:
    assert metrics.lags() == {}
    metrics.record_store_position(9)
    assert metrics.lags() == {}  # this process feeds nothing yet
    metrics.record_projection("balances", 5)
    assert metrics.lags() == {"balances": 4}


def test_errors_are_counted_by_kind(metrics: Metrics) -> None:
    metrics.record_error("database_unavailable")
    metrics.record_error("database_unavailable")
    metrics.record_error("publish_failed")
    assert sample(metrics, "payments_errors_total", kind="database_unavailable") == 2
    assert sample(metrics, "payments_errors_total", kind="publish_failed") == 1


def test_lag_within_the_threshold_or_shrinking_is_keeping_up() -> None:
    trend = LagTrend(window=30)
    trend.observe(5000, now=0)
    assert not trend.keeping_up(max_lag=1000)  # one sample: big, no trend yet
    trend.observe(4000, now=10)
    assert trend.keeping_up(max_lag=1000)  # shrinking: catching up
    trend.observe(4000, now=45)
    trend.observe(4000, now=50)
    assert not trend.keeping_up(max_lag=1000)  # flat for 30 s: stalled
    trend.observe(900, now=60)
    assert trend.keeping_up(max_lag=1000)


def test_health_is_degraded_when_a_stalled_relay_falls_behind(metrics: Metrics) -> None:
    clock = [0.0]
    store = [100]
    monitor = HealthMonitor(
        metrics,
        probe_postgres=lambda: (True, store[0]),
        probe_kafka=lambda: True,
        max_lag=10,
        window=5,
        clock=lambda: clock[0],
    )
    assert monitor.report().http_status == 503  # nothing sampled yet

    metrics.record_relay(100, 100)
    monitor.sample()
    report = monitor.report()
    assert report == HealthReport(True, True, True, {"relay": 0}, 100)
    assert report.to_json()["status"] == "ok" and report.http_status == 200

    store[0] = 200  # 100 new events, and the relay does not move
    for second in (1, 7):
        clock[0] = second
        monitor.sample()
    report = monitor.report()
    assert report.lag == {"relay": 100}
    assert not report.keeping_up
    assert report.to_json()["status"] == "degraded" and report.http_status == 503


def test_health_is_degraded_without_postgres_or_kafka(metrics: Metrics) -> None:
    up = {"postgres": True, "kafka": True}
    monitor = HealthMonitor(
        metrics,
        probe_postgres=lambda: (up["postgres"], 0 if up["postgres"] else None),
        probe_kafka=lambda: up["kafka"],
        kafka_every=0,
    )
    monitor.sample()
    assert monitor.report().ok
    up["kafka"] = False
    monitor.sample()
    assert monitor.report().to_json() | {"lag": None} == {
        "status": "degraded",
        "postgres": True,
        "kafka": False,
        "keeping_up": True,
        "lag": None,
        "store_position": 0,
    }
    up.update(postgres=False, kafka=True)
    monitor.sample()
    report = monitor.report()
    assert not report.postgres and not report.keeping_up and report.http_status == 503


def test_kafka_is_probed_at_most_every_few_seconds(metrics: Metrics) -> None:
    calls = []
    clock = [0.0]
    monitor = HealthMonitor(
        metrics,
        probe_postgres=lambda: (True, None),
        probe_kafka=lambda: calls.append(clock[0]) is None,
        kafka_every=5,
        clock=lambda: clock[0],
    )
    for second in range(12):
        clock[0] = float(second)
        monitor.sample()
    assert calls == [0.0, 5.0, 10.0]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, 9464), ({"PAYMENTS_METRICS_PORT": "0"}, 0), ({"PAYMENTS_METRICS_PORT": "9999"}, 9999)],
)
def test_metrics_port_comes_from_the_settings(
    environ: dict[str, str], expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYMENTS_METRICS_PORT", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert metrics_port(Settings(), 9464) == expected


def test_a_bad_metrics_port_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_METRICS_PORT", "70000")
    with pytest.raises(ValidationError, match="metrics_port"):
        Settings()
