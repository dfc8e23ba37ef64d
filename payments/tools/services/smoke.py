"""A visible round trip through both services: one Kafka message, one SQL query.

Used by `make demo` until `payments demo` exists, and handy after `services up` to
see with one's own eyes that the broker and the database answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from payments.tools.services import principals
from payments.tools.services.config import ServiceConfig
from payments.tools.services.control import env_vars
from payments.tools.services.errors import ServiceError
from payments.tools.services.topics import ensure_topics

EVENT_STORE_TABLE = "payments_events"  # docs/architecture.md


def run(config: ServiceConfig, say: Callable[[str], None]) -> None:
    variables = env_vars(config, "admin")  # counts the events: the operator's role
    kafka_round_trip(config, say)
    database_check(variables["PAYMENTS_DATABASE_URL"], say)


def kafka_round_trip(config: ServiceConfig, say: Callable[[str], None]) -> None:
    topic = f"{config.topic_prefix}.smoke"
    # The smoke topic is outside the contract's ACLs: the admin principal checks it.
    auth = principals.local_auth(config, "admin")
    ensure_topics(config.kafka_bootstrap, {topic: 1}, auth)
    value = f"smoke {uuid.uuid4()}".encode()
    producer = KafkaProducer(bootstrap_servers=config.kafka_bootstrap, acks="all", **auth)
    try:
        meta = producer.send(topic, key=b"smoke", value=value).get(timeout=30)
    finally:
        producer.close()
    say(
        f"kafka: produced {value.decode()!r} to {topic} partition {meta.partition} "
        f"offset {meta.offset}"
    )
    consumer = KafkaConsumer(
        bootstrap_servers=config.kafka_bootstrap, enable_auto_commit=False, **auth
    )
    try:
        partition = TopicPartition(topic, meta.partition)
        consumer.assign([partition])
        consumer.seek(partition, meta.offset)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if record.value == value:
                        say(f"kafka: consumed it back from offset {record.offset}")
                        return
    finally:
        consumer.close()
    raise ServiceError(f"the smoke message did not come back from {topic} within 30 s")


def database_check(url: str, say: Callable[[str], None]) -> None:
    with psycopg.connect(url, connect_timeout=10) as conn:
        user, one = conn.execute("SELECT current_user, 1").fetchone() or (None, None)
        say(f"postgresql: SELECT 1 as {user} -> {one}")
        row = conn.execute("SELECT to_regclass(%s)::text", (f"public.{EVENT_STORE_TABLE}",))
        found = (row.fetchone() or (None,))[0]
        if found:
            count = conn.execute(f"SELECT count(*) FROM {EVENT_STORE_TABLE}").fetchone()
            say(f"postgresql: event store table {found} exists ({count[0] if count else 0} events)")
        else:
            say(
                f"postgresql: event store table {EVENT_STORE_TABLE} does not exist yet "
                "(the schema is installed by `payments services up` once payments.schema exists)"
            )
