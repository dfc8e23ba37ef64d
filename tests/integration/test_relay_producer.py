"""The relay goes on with a new producer when its producer stops acknowledging."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from payments.engine.publisher import Publisher, PublishError
from payments.engine.relay import EventRelay
from payments.ledger.store import open_application
from payments.runtime.settings import Settings
from tests.support.kafka import create_topics, read_topic, unique_prefix

pytestmark = pytest.mark.integration

REPLAYED = 5  # the store's last events, published again to the test's own topic


class NeverAcknowledging(Publisher):
    """A real producer whose flush always times out, as one wedged after a broker restart."""

    abandoned = False

    def flush(self, timeout: float = 30.0) -> None:
        raise PublishError(f"messages not acknowledged within {timeout:.0f} s")

    def abandon(self) -> None:
        super().abandon()
        self.abandoned = True


def test_a_relay_whose_producer_stops_acknowledging_goes_on_with_a_new_one(
    settings: Settings,
) -> None:
    prefix = unique_prefix("relay")
    create_topics(settings.require_kafka_bootstrap(), prefix)
    ours = Settings(topic_prefix=prefix)
    topic = ours.topics.events
    with psycopg.connect(ours.require_database_url(), autocommit=True) as conn:
        (last,) = conn.execute("SELECT max(notification_id) FROM payments_events").fetchone()
        assert last is not None and last > REPLAYED, "the store holds earlier tests' events"
        conn.execute(
            "INSERT INTO relay_position (name, notification_id) VALUES (%s, %s)",
            (topic, last - REPLAYED),
        )
    wedged = NeverAcknowledging(ours, "payments-relay-test")
    app = open_application(ours)
    relay = EventRelay(ours, app, wedged, new_producer=lambda: Publisher(ours, "payments-relay"))
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        records = read_topic(
            ours.require_kafka_bootstrap(), topic, lambda rs: len(rs) >= REPLAYED, timeout=60
        )
        deadline = time.monotonic() + 30
        with psycopg.connect(ours.require_database_url(), autocommit=True) as conn:
            while conn.execute(
                "SELECT notification_id FROM relay_position WHERE name = %s", (topic,)
            ).fetchone() != (last,):
                assert time.monotonic() < deadline, "the relay's position did not move"
                time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=30)
        relay.producer.close()
        app.close()
    assert wedged.abandoned and relay.producer is not wedged
    # Every event is there; the wedged producer's own sends may be too (at least once).
    positions = {json.loads(r.value)["position"] for r in records}
    # Each record's headers repeat its event's aggregate type and position.
    for record in records:
        event = json.loads(record.value)
        assert dict(record.headers) == {
            "aggregate_type": event["aggregate_type"].encode(),
            "position": str(event["position"]).encode(),
        }
    assert positions == set(range(last - REPLAYED + 1, last + 1))
