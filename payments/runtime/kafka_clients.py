"""Kafka consumers configured the one way the engine and the projections need them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import structlog
from kafka import KafkaConsumer

from payments.runtime.backoff import Backoff
from payments.runtime.settings import Settings

log = structlog.get_logger("payments.kafka")

# A member killed with -9 keeps its partitions until its session expires: 10 s (the
# broker's minimum is 6 s) instead of kafka-python's 45 s, measured by the fault suite
# as up to 70 s of stalled answers after a kill.
# A topic created after the client started is seen at the next metadata refresh:
# 30 s, not 5 min.
FAST_FAILOVER = {
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    "metadata_max_age_ms": 30_000,
}


def command_consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.require_kafka_bootstrap(),
        group_id=settings.engine_group,
        client_id="payments-engine",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.engine_batch_max,
        # Deciding a batch can wait for a database that is restarting.
        max_poll_interval_ms=600_000,
        fetch_max_wait_ms=settings.engine_batch_wait_ms,
        **FAST_FAILOVER,
        **settings.kafka_python_auth(),
    )


def subscribe_when_known(
    consumer: KafkaConsumer, topic: str, stop: threading.Event, listener: Any = None
) -> None:
    """Subscribe once the client has the topic's metadata (or stop was asked for).

    Subscribing to a topic the client has no metadata for yet assigns nothing, and
    kafka-python would only notice at its next metadata refresh.
    """
    backoff = Backoff(initial=0.2, cap=5.0)
    while not stop.is_set() and not consumer.partitions_for_topic(topic):
        log.warning("waiting_for_topic", topic=topic)
        backoff.wait(stop)
    consumer.subscribe([topic], listener=listener)


def rdkafka_auth(auth: Mapping[str, Any]) -> dict[str, str]:
    """kafka-python's SASL arguments (`Settings.kafka_python_auth()`) as librdkafka config."""
    names = {
        "security_protocol": "security.protocol",
        "sasl_mechanism": "sasl.mechanisms",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
    }
    config = {names[key]: str(value) for key, value in auth.items() if key in names}
    if "security.protocol" in config:
        config["security.protocol"] = config["security.protocol"].lower()
    return config
