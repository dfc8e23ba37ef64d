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
