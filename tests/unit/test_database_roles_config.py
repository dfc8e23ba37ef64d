"""The process roles are the same everywhere: the secrets file, compose, the principals."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from payments.contract.database_roles import ENGINE_ROLE, PROCESS_ROLES, PROJECTOR_ROLE
from payments.tools.services import postgres, secrets_file

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def test_an_older_secrets_file_gains_the_process_roles_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    old = {"postgres": "p", "payments_admin": "a", "payments_app": "x"}
    secrets_file.write(path, old)
    loaded = secrets_file.load(path)
    assert loaded is not None
    assert {k: loaded[k] for k in old} == old
    assert all(len(loaded[role]) >= 24 for role in PROCESS_ROLES)
    assert secrets_file.load(path) == loaded  # generated once, then kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_principal_has_a_database_role_with_a_password() -> None:
    roles = set(postgres.DATABASE_ROLE_OF.values())
    assert set(PROCESS_ROLES) <= roles <= set(secrets_file.ROLES)


def test_compose_creates_the_roles_and_runs_each_process_as_its_own() -> None:
    document = yaml.safe_load(COMPOSE.read_text())
    roles_sql = document["configs"]["roles.sql"]["content"]
    for role in PROCESS_ROLES:
        assert f"CREATE ROLE {role} LOGIN" in roles_sql
    services = document["services"]

    def user(service: str) -> str | None:
        return urlsplit(services[service]["environment"]["PAYMENTS_DATABASE_URL"]).username

    assert user("engine") == ENGINE_ROLE
    assert user("consumers") == PROJECTOR_ROLE
    assert user("init") == postgres.APP_ROLE
    for service in ("engine", "consumers"):
        environment = services[service]["environment"]
        assert "PAYMENTS_ADMIN_DATABASE_URL" not in environment
        assert "PAYMENTS_SUPERUSER_DATABASE_URL" not in environment
