"""The local services' secrets file: 0600 from its first byte, upgraded in place."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from payments.tools.services import secrets_file


def test_a_new_file_is_private_and_holds_every_principal(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    passwords = secrets_file.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for principal in secrets_file.KAFKA_PRINCIPALS:
        assert len(passwords[secrets_file.kafka_key(principal)]) >= 32
    assert len(set(passwords.values())) == len(passwords)  # none shared


def test_the_file_is_never_readable_by_others_even_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[int] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777) -> int:
        modes.append(mode)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    secrets_file.create(tmp_path / "secrets.json")
    assert modes == [0o600]  # created with 0600, not chmod-ed afterwards


def test_an_old_file_gains_the_kafka_passwords_and_keeps_the_database_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secrets.json"
    old = {role: f"old-{role}" for role in secrets_file.ROLES}
    path.write_text(json.dumps(old))
    loaded = secrets_file.load(path)
    assert loaded is not None
    assert {role: loaded[role] for role in secrets_file.ROLES} == old
    assert secrets_file.kafka_key("engine") in json.loads(path.read_text())
    assert secrets_file.load(path) == loaded  # stable from then on
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
