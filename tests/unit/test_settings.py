"""Settings: read from the contract's PAYMENTS_* names, secrets never shown."""

from __future__ import annotations

import pytest

from payments.runtime.settings import MissingSetting, Settings

URL = "postgresql://payments_app:s3cret-pw@127.0.0.1:54329/payments"
ADMIN_URL = "postgresql://payments_admin:adm1n-pw@127.0.0.1:54329/payments"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PAYMENTS_DATABASE_URL", "PAYMENTS_ADMIN_DATABASE_URL",
                 "PAYMENTS_KAFKA_BOOTSTRAP", "PAYMENTS_TOPIC_PREFIX"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_read_the_contract_variable_names(env: pytest.MonkeyPatch) -> None:
    env.setenv("PAYMENTS_DATABASE_URL", URL)
    env.setenv("PAYMENTS_ADMIN_DATABASE_URL", ADMIN_URL)
    env.setenv("PAYMENTS_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    env.setenv("PAYMENTS_TOPIC_PREFIX", "t1")
    settings = Settings()
    assert settings.require_database_url() == URL
    assert settings.require_admin_database_url() == ADMIN_URL
    assert settings.require_kafka_bootstrap() == "127.0.0.1:19092"
    assert settings.topics.commands == "t1.commands"
    assert settings.topics.commands_dlq == "t1.commands.dlq"


def test_the_topic_prefix_defaults_to_payments(env: pytest.MonkeyPatch) -> None:
    assert Settings().topics.all() == [
        "payments.commands",
        "payments.command-results",
        "payments.events",
        "payments.commands.dlq",
    ]


def test_passwords_appear_in_no_repr_or_str(env: pytest.MonkeyPatch) -> None:
    env.setenv("PAYMENTS_DATABASE_URL", URL)
    env.setenv("PAYMENTS_ADMIN_DATABASE_URL", ADMIN_URL)
    settings = Settings()
    for shown in (repr(settings), str(settings), f"{settings}", repr(settings.model_dump())):
        assert "s3cret-pw" not in shown
        assert "adm1n-pw" not in shown


def test_a_missing_url_says_how_to_set_it(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingSetting, match="payments services env"):
        Settings().require_database_url()


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.topic_prefix = "other"  # type: ignore[misc]


def test_no_module_but_settings_reads_a_payments_variable() -> None:
    """Configuration is read in one place (payments.runtime.settings) and handed down."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    reads = re.compile(r"""(environ\.get\(|environ\[|getenv\()\s*["']PAYMENTS_""")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for package in ("payments", "projections", "consumers")
        for path in sorted((root / package).rglob("*.py"))
        if path.name != "settings.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if reads.search(line)
    ]
    assert offenders == []


@pytest.fixture
def no_kafka_auth(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("USERNAME", "PASSWORD", "MECHANISM", "SECURITY_PROTOCOL"):
        env.delenv(f"PAYMENTS_KAFKA_{name}", raising=False)
    return env


def test_without_a_username_kafka_clients_speak_plaintext(
    no_kafka_auth: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    assert settings.kafka_python_auth() == {"security_protocol": "PLAINTEXT"}
    assert settings.confluent_auth() == {"security.protocol": "plaintext"}


def test_with_a_username_both_clients_get_scram(no_kafka_auth: pytest.MonkeyPatch) -> None:
    env = no_kafka_auth
    env.setenv("PAYMENTS_KAFKA_USERNAME", "engine")
    env.setenv("PAYMENTS_KAFKA_PASSWORD", "s3cret-value")
    settings = Settings()
    assert settings.kafka_python_auth() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "engine",
        "sasl_plain_password": "s3cret-value",
    }
    assert settings.confluent_auth() == {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "engine",
        "sasl.password": "s3cret-value",
    }
    assert "s3cret-value" not in repr(settings)


def test_a_username_without_a_password_is_named(no_kafka_auth: pytest.MonkeyPatch) -> None:
    no_kafka_auth.setenv("PAYMENTS_KAFKA_USERNAME", "engine")
    with pytest.raises(MissingSetting, match="PAYMENTS_KAFKA_PASSWORD"):
        Settings().kafka_python_auth()
