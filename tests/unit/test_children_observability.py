"""A supervisor's /metrics and /health, merged from its children's, as worked examples."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from payments.runtime.observability.children import Answer, merge_health, merge_metrics
from payments.runtime.observability.health import HealthReport
from payments.runtime.observability.metrics import Metrics


def child_text(projection: str, position: int, store: int) -> str:
    metrics = Metrics(CollectorRegistry())
    metrics.record_projection(projection, position)
    metrics.record_store_position(store)
    metrics.record_poison(projection, "unreadable")
    metrics.batch_size.observe(3)  # an engine-side histogram: the same series in each child
    return generate_latest(metrics.registry).decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_family_once_counters_added_gauges_the_largest() -> None:
    merged = merge_metrics([child_text("balances", 7, 10), child_text("audit", 4, 12)]).decode()
    assert merged.count("# TYPE payments_projection_position gauge") == 1
    assert merged.count("# TYPE payments_batch_commands histogram") == 1
    values = samples(merged)
    assert values[("payments_projection_position", (("projection", "balances"),))] == 7
    assert values[("payments_projection_position", (("projection", "audit"),))] == 4
    assert values[("payments_store_position", ())] == 12  # gauge: the largest
    assert values[("payments_consumer_lag_events", (("projection", "audit"),))] == 8
    assert values[("payments_batch_commands_count", ())] == 2  # histogram: added up
    assert values[("payments_batch_commands_bucket", (("le", "5.0"),))] == 2
    poison = ("payments_projection_poison_events_total", (("projection", "balances"), ("reason", "unreadable")))  # fmt: skip  # noqa: E501
    assert values[poison] == 1


def answer(report: HealthReport) -> Answer:
    return Answer(report.http_status, json.dumps(report.to_json()).encode())


def test_health_is_ok_only_when_every_child_is() -> None:
    balances = HealthReport(True, True, True, {"balances": 0}, 40)
    audit = HealthReport(True, True, True, {"audit": 2}, 42)
    status, document = merge_health({"consume-balances": answer(balances), "consume-audit": answer(audit)})  # fmt: skip  # noqa: E501
    assert status == 200
    assert document == {
        "status": "ok", "postgres": True, "kafka": True, "keeping_up": True,
        "lag": {"audit": 2, "balances": 0}, "store_position": 42,
    }  # fmt: skip


def test_a_red_or_silent_child_turns_the_whole_red_with_its_reason() -> None:
    quarantined = HealthReport(
        True, True, True, {"balances": 0}, 40, {"balances.quarantine": "5 record(s) quarantined"}
    )
    stalled = HealthReport(True, True, False, {"settlements": 5000}, 40)
    status, document = merge_health(
        {"consume-balances": answer(quarantined), "consume-settlements": answer(stalled),
         "consume-audit": None}
    )  # fmt: skip
    assert status == 503
    assert document["status"] == "degraded"
    assert document["keeping_up"] is False and document["postgres"] is True
    assert document["alarms"] == {
        "balances.quarantine": "5 record(s) quarantined",
        "consume-audit": "not answering",
    }


def test_no_child_answering_is_not_reachable_services() -> None:
    status, document = merge_health({"consume-audit": None})
    assert status == 503
    assert (document["postgres"], document["kafka"], document["keeping_up"]) == (False,) * 3
    assert document["store_position"] is None
