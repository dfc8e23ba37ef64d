"""`payments services`: the local PostgreSQL and Kafka the rest of the suite runs on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from payments.tools.services import ServiceConfig, ServiceError, control, postgres, principals
from payments.tools.services.procs import check_port_free, is_alive, our_pid
from payments.tools.services.topics import ensure_topics

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-c", "from payments.cli.root import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_config(tmp_path: Path) -> ServiceConfig:
    """A second set of services: own state folder, own ports, shared jar cache."""
    return replace(
        ServiceConfig.from_settings(),
        state_dir=tmp_path / "state",
        pg_port=free_port(),
        kafka_port=free_port(),
        controller_port=free_port(),
        topic_prefix="isolated",
    )


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=os.environ | env, timeout=120
    )


def test_a_message_goes_through_kafka_and_back(settings, kafka_bootstrap: str) -> None:
    topic = f"{settings.topic_prefix}.smoke"
    auth = settings.kafka_python_auth()
    ensure_topics(kafka_bootstrap, {topic: 1}, auth)
    value = uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", **auth)
    sent = producer.send(topic, key=b"k", value=value).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, **auth)
    partition = TopicPartition(topic, sent.partition)
    consumer.assign([partition])
    consumer.seek(partition, sent.offset)
    got = [r.value for rs in consumer.poll(timeout_ms=10_000).values() for r in rs]
    consumer.close()
    assert value in got


def test_the_contract_topics_have_their_partition_counts(settings, kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, **settings.kafka_python_auth())
    topics = settings.topics
    described = admin.describe_topics(topics.all())
    admin.close()
    counts = {d.get("name") or d["topic"]: len(d["partitions"]) for d in described}
    assert counts == {
        topics.commands: 8,
        topics.events: 8,
        topics.command_results: 3,
        topics.commands_dlq: 1,
    }


def test_each_url_logs_in_as_its_role(
    database_url: str, admin_database_url: str, superuser_database_url: str
) -> None:
    for url, role in (
        (database_url, "payments_app"),
        (admin_database_url, "payments_admin"),
        (superuser_database_url, "postgres"),
    ):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)


def test_the_admin_owns_the_schema_and_the_app_may_create_tables(
    database_url: str, admin_database_url: str
) -> None:
    with psycopg.connect(admin_database_url) as conn:
        owner = conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
        assert owner == ("payments_admin",)
    table = f"scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE {table} (x int)")
        conn.rollback()  # nothing left behind
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder")


def test_up_again_finds_everything_running_and_returns_quickly(service_env) -> None:
    if "127.0.0.1" not in service_env["PAYMENTS_KAFKA_BOOTSTRAP"]:
        pytest.skip("the suite runs on services this project did not start")
    config = ServiceConfig.from_settings()
    before = [row["pid"] for row in control.status(config)]
    started = time.monotonic()
    control.up(config)
    assert time.monotonic() - started < 10  # generous: the machine may be busy
    assert [row["pid"] for row in control.status(config)] == before
    assert all(before)


def test_a_taken_port_is_named_with_the_variable_that_changes_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServiceError, match=f"port {port} .*PAYMENTS_PG_PORT"):
            check_port_free(port, "PostgreSQL", "PAYMENTS_PG_PORT")


def test_up_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = run_cli(
            "services", "up",
            PAYMENTS_SERVICES_DIR=str(tmp_path / "state"),
            PAYMENTS_PG_PORT=str(port),
            PAYMENTS_KAFKA_PORT=str(free_port()),
            PAYMENTS_KAFKA_CONTROLLER_PORT=str(free_port()),
        )  # fmt: skip
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "PAYMENTS_PG_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_postgres_binaries_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cli(
        "services", "up",
        PAYMENTS_SERVICES_DIR=str(tmp_path / "state"),
        PAYMENTS_PG_BINDIR=str(empty),
        PAYMENTS_PG_PORT=str(free_port()),
    )  # fmt: skip
    assert done.returncode == 1
    assert "PostgreSQL 15 server binaries" in done.stderr and "Traceback" not in done.stderr


def test_missing_java_and_missing_maven_are_reported(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    common = {
        "PAYMENTS_SERVICES_DIR": str(tmp_path / "state"),
        "PAYMENTS_CACHE_DIR": str(tmp_path / "empty-cache"),
        "PAYMENTS_PG_BINDIR": str(postgres.find_bindir(ServiceConfig.from_settings())),
        "PAYMENTS_PG_PORT": str(free_port()),
        "PAYMENTS_KAFKA_PORT": str(free_port()),
        "PAYMENTS_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PATH": str(tools),
    }
    done = run_cli("services", "up", **common)
    assert done.returncode == 1 and "`java` was not found" in done.stderr

    # With java but no mvn and an empty jar cache, fetching Kafka cannot even begin.
    java = subprocess.run(["which", "java"], capture_output=True, text=True).stdout.strip()
    (tools / "java").symlink_to(java)
    done = run_cli("services", "up", **common)
    assert done.returncode == 1 and "`mvn` was not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_stale_pid_file_is_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file = tmp_path / "kafka.pid"
    pid_file.write_text(f"{gone.pid}\n")
    assert our_pid(pid_file, "kafka.Kafka") is None
    assert not pid_file.exists()
    # A live process that is not ours (a reused pid) is just as stale.
    pid_file.write_text(f"{os.getpid()}\n")
    assert our_pid(pid_file, "kafka.Kafka") is None
    assert not pid_file.exists()


def test_a_half_made_data_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    data = postgres.data_dir(config)
    data.mkdir(parents=True)
    (data / "leftover").write_text("")
    try:
        with pytest.raises(ServiceError, match=r"half-made.*down --purge"):
            control.up(config)
    finally:
        control.down(config, purge=True)


def test_a_whole_cycle_in_a_fresh_folder_leaves_no_process_behind(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    stale = config.kafka_dir / "kafka.pid"
    stale.parent.mkdir(parents=True)
    stale.write_text("999999\n")  # beyond pid_max's default: certainly not running
    try:
        variables = control.up(config)
        pids = [row["pid"] for row in control.status(config)]
        assert all(pids)
        with psycopg.connect(variables["PAYMENTS_DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert variables["PAYMENTS_KAFKA_USERNAME"] == "client"
        consumer = KafkaConsumer(
            bootstrap_servers=variables["PAYMENTS_KAFKA_BOOTSTRAP"],
            **principals.local_auth(config, "client"),
        )
        assert "isolated.commands" in consumer.topics()
        consumer.close()
    finally:
        control.down(config, purge=True)
    assert not any(is_alive(pid) for pid in pids)
    assert not config.state_dir.exists()
    assert not postgres.pg_root(config).exists()
