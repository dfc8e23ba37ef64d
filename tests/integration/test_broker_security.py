"""The local broker authenticates (SASL/SCRAM-SHA-512) and authorizes (ACLs).

Against the real broker of `payments services up`: a client without credentials or
with a wrong password is refused, and each principal may do its job and no more
(docs/security.md has the table).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAuthorizationFailedError

from payments.runtime.settings import Settings, Topics
from payments.tools.services import ServiceConfig, principals, secrets_file
from tests.support.kafka import create_topics, unique_prefix

pytestmark = pytest.mark.integration

# A client the broker does not authenticate never gets metadata: it gives up here.
BOOTSTRAP_MS = 5_000
UNAUTHENTICATED = KafkaTimeoutError  # "Unable to bootstrap": the SASL handshake failed
DENIED = TopicAuthorizationFailedError


@pytest.fixture(scope="module")
def local(settings: Settings) -> ServiceConfig:
    config = ServiceConfig.from_settings(settings)
    if settings.kafka_bootstrap != config.kafka_bootstrap or not config.secrets_file.exists():
        pytest.skip("needs the local broker of `payments services up`")
    return config


@pytest.fixture(scope="module")
def topics(local: ServiceConfig, kafka_bootstrap: str) -> Topics:
    return create_topics(kafka_bootstrap, unique_prefix("security"))


def auth_of(config: ServiceConfig, principal: str) -> dict[str, Any]:
    return principals.local_auth(config, principal)


def produce(bootstrap: str, topic: str, **auth: Any) -> None:
    """One record, acknowledged by the broker, or the broker's refusal raised."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_block_ms=10_000,
        retries=0,
        bootstrap_timeout_ms=BOOTSTRAP_MS,
        **auth,
    )
    try:
        producer.send(topic, key=b"k", value=uuid.uuid4().bytes).get(timeout=15)
    finally:
        producer.close(timeout=5)


def fetch(bootstrap: str, topic: str, **auth: Any) -> None:
    """Read the first partition from the start (the broker checks READ on fetch)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        bootstrap_timeout_ms=BOOTSTRAP_MS,
        **auth,
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        consumer.poll(timeout_ms=3_000)
        consumer.position(partition)
    finally:
        consumer.close()


def test_a_client_without_credentials_is_refused(topics: Topics, kafka_bootstrap: str) -> None:
    # PLAINTEXT on a SASL listener: the broker drops the connection, no metadata ever.
    with pytest.raises(UNAUTHENTICATED):
        produce(kafka_bootstrap, topics.commands, security_protocol="PLAINTEXT")


def test_a_wrong_password_is_refused(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    wrong = auth_of(local, "client") | {"sasl_plain_password": "not-the-password"}
    with pytest.raises(UNAUTHENTICATED):
        produce(kafka_bootstrap, topics.commands, **wrong)


def test_another_principals_password_is_refused(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    passwords = secrets_file.load(local.secrets_file) or {}
    mixed = auth_of(local, "client") | {
        "sasl_plain_password": passwords[secrets_file.kafka_key("engine")]
    }
    with pytest.raises(UNAUTHENTICATED):
        produce(kafka_bootstrap, topics.commands, **mixed)


def test_the_engine_reads_commands_and_writes_results_events_and_dead_letters(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    engine = auth_of(local, "engine")
    fetch(kafka_bootstrap, topics.commands, **engine)
    for topic in (topics.command_results, topics.events, topics.commands_dlq):
        produce(kafka_bootstrap, topic, **engine)


def test_the_engine_cannot_write_commands(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    with pytest.raises(DENIED):
        produce(kafka_bootstrap, topics.commands, **auth_of(local, "engine"))


def test_the_projections_read_events_and_write_nothing(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    projections = auth_of(local, "projections")
    fetch(kafka_bootstrap, topics.events, **projections)
    for topic in (topics.commands, topics.events):
        with pytest.raises(DENIED):
            produce(kafka_bootstrap, topic, **projections)
    with pytest.raises(DENIED):
        fetch(kafka_bootstrap, topics.commands, **projections)


def test_a_client_writes_commands_and_reads_results_only(
    local: ServiceConfig, topics: Topics, kafka_bootstrap: str
) -> None:
    client = auth_of(local, "client")
    produce(kafka_bootstrap, topics.commands, **client)
    fetch(kafka_bootstrap, topics.command_results, **client)
    with pytest.raises(DENIED):
        produce(kafka_bootstrap, topics.events, **client)
    with pytest.raises(DENIED):
        fetch(kafka_bootstrap, topics.commands, **client)
    with pytest.raises(DENIED):
        fetch(kafka_bootstrap, topics.events, **client)


def test_only_the_admin_creates_topics(local: ServiceConfig, kafka_bootstrap: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"{unique_prefix('security')}.made-by-client"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **auth_of(local, "client"))
    try:
        with pytest.raises(KafkaError):
            admin.create_topics([NewTopic(name, 1, 1)], timeout_ms=10_000)
    finally:
        admin.close()


def test_secret_files_are_private(local: ServiceConfig) -> None:
    for path in (local.secrets_file, local.kafka_dir / "server.properties"):
        assert path.stat().st_mode & 0o077 == 0, path
