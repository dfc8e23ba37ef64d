"""A `.services/` from the PLAINTEXT broker is recognized, so `up` can format it anew."""

from __future__ import annotations

from pathlib import Path

from payments.tools.services import broker
from payments.tools.services.config import ServiceConfig


def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache")


def test_formatted_storage_without_scram_users_is_from_the_plaintext_era(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    p = broker.paths(cfg)
    assert not broker.is_plaintext_era(cfg)  # nothing yet: a fresh start, not an upgrade
    p["data"].mkdir(parents=True)
    (p["data"] / "meta.properties").write_text("cluster.id=x\n")
    assert broker.is_plaintext_era(cfg)
    p["scram_marker"].write_text("bootstrapped\n")
    assert not broker.is_plaintext_era(cfg)


def test_resetting_removes_the_old_log_but_nothing_else(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    p = broker.paths(cfg)
    p["data"].mkdir(parents=True)
    (p["data"] / "meta.properties").write_text("cluster.id=x\n")
    p["cluster_id"].write_text("x")
    (cfg.state_dir / "secrets.json").write_text("{}")
    broker.reset_plaintext_era(cfg)
    assert not p["data"].exists() and not p["cluster_id"].exists()
    assert (cfg.state_dir / "secrets.json").exists()
