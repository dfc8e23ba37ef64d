"""compose.yaml speaks the same PAYMENTS_* language as Settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from payments.runtime.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def payments_variables(document: Any) -> set[str]:
    """Every PAYMENTS_* name used as a key or inside a value anywhere in the file."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            found |= payments_variables(key) | payments_variables(value)
    elif isinstance(document, list):
        for item in document:
            found |= payments_variables(item)
    elif isinstance(document, str):
        found |= set(re.findall(r"PAYMENTS_[A-Z0-9_]+", document))
    return found


def test_every_payments_variable_is_a_settings_field() -> None:
    names = payments_variables(compose())
    assert "PAYMENTS_DATABASE_URL" in names
    unknown = {n for n in names if n.removeprefix("PAYMENTS_").lower() not in Settings.model_fields}
    assert unknown == set()


def test_the_services_of_the_system_are_there() -> None:
    services = compose()["services"]
    assert {"postgres", "kafka", "init", "engine", "consumers"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["engine"]["command"] == ["engine"]
    assert services["consumers"]["command"] == ["consume", "all"]


def test_the_engine_waits_for_topics_and_schema() -> None:
    services = compose()["services"]
    assert "payments db init" in " ".join(services["init"]["entrypoint"])
    for name in ("engine", "consumers"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )


def test_published_ports_listen_on_localhost_only() -> None:
    for service in compose()["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:")


def test_kafka_runs_in_kraft_mode_as_broker_and_controller() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env


def test_kafka_authenticates_with_scram_and_authorizes_with_acls() -> None:
    env = compose()["services"]["kafka"]["environment"]
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}  # no PLAINTEXT listener
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"


def test_no_kafka_password_is_written_in_the_file() -> None:
    services = compose()["services"]
    for name, principal in (("init", "admin"), ("engine", "engine"), ("consumers", "projections")):
        env = services[name]["environment"]
        assert env["PAYMENTS_KAFKA_USERNAME"] == principal
        # compose must be given it: ${VAR:?message} refuses to start without.
        assert re.fullmatch(r"\$\{KAFKA_[A-Z]+_PASSWORD:\?[^}]*\}", env["PAYMENTS_KAFKA_PASSWORD"])
    kafka = services["kafka"]["environment"]
    secrets = {k: v for k, v in kafka.items() if k.endswith("_PASSWORD")}
    assert len(secrets) == 4
    assert all(re.fullmatch(r"\$\{KAFKA_[A-Z]+_PASSWORD:\?[^}]*\}", v) for v in secrets.values())
