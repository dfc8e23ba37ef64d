"""The end offsets of a topic's partitions: where a reader caught up with it stands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def end_offsets(bootstrap: str, topic: str, auth: Mapping[str, Any]) -> dict[int, int]:
    """`auth`: kafka-python SASL arguments (`Settings.kafka_python_auth()`)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, **auth)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()
