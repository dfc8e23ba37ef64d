"""`payments bench --quick` end to end: every figure is in the JSON and the run is correct.

No timing is asserted: speed depends on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from payments.cli.bench import bench

pytestmark = pytest.mark.integration


# A quick run is ~1-2 minutes on an idle machine; a shared CI machine may take longer.
@pytest.mark.timeout(900)
def test_a_quick_run_reports_every_figure_and_passes_its_correctness_checks(
    service_env: dict[str, str], superuser_database_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "quick.json"
    result = CliRunner().invoke(bench, ["--quick", "--output", str(output)])
    assert output.is_file(), result.output
    report = json.loads(output.read_text())

    correctness = report["correctness"]
    assert correctness["passed"], correctness["failures"]
    assert result.exit_code == 0, result.output
    assert correctness["outcomes"] == correctness["published"] > 0
    assert correctness["mismatches"] == 0
    assert correctness["rejected"] >= correctness["expected_rejections"] > 0
    assert correctness["verify_passed"] is True

    figures = report["figures"]
    assert figures["throughput"]["commands_per_s"] > 0
    assert [row["fraction_of_max"] for row in figures["latency"]] == [0.25, 0.5]
    for row in figures["latency"]:
        assert row["commands"] > 0
        assert 0 <= row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert figures["read_model_lag_s"] >= 0
    assert figures["events"] > correctness["published"]  # a command stores several events
    assert figures["replay"]["events"] == figures["events"]
    for name in ("replay", "verify"):
        assert figures[name]["events_per_s"] > 0
    assert figures["memory_peak_rss_mb"]["engine"] > 0
    assert figures["memory_peak_rss_mb"]["consumers"] > 0
    cpu = figures["throughput_cpu"]
    assert cpu["seconds"] > 0
    for group in ("engine", "consumers", "bench client", "postgresql", "kafka"):
        assert cpu["cores_busy"][group] > 0, group  # each of them worked in the phase
    assert sum(cpu["cores_busy"].values()) <= cpu["cores"] * 1.05
    assert cpu["postgresql_commits_per_s"] > 0
    curve = figures["memory_curve"]
    phases = {sample["phase"] for sample in curve["samples"]}
    assert {"setup", "throughput", "latency25", "latency50"} <= phases
    for name in ("engine", "consumers"):
        assert all(sample[name] > 0 for sample in curve["samples"])
        assert curve["growth"][name] > 0
        # The peak is the high-water mark: no sample of the curve can be above it.
        assert max(sample[name] for sample in curve["samples"]) <= (
            figures["memory_peak_rss_mb"][name] + 1
        )

    references = report["references"]
    assert references["pgbench"]["tps"] > 0
    assert references["naive_eventsourcing"]["tps"] > 0
    assert report["ratios"]["throughput_commands_per_s"]["x_pgbench_tps"] > 0
    assert report["ratios"]["throughput_commands_per_s"]["x_naive_tps"] > 0
    assert set(report["targets"]) == {
        "throughput_vs_pgbench",
        "throughput_vs_naive",
        "p99_at_25pct",
        "read_model_lag",
        "replay",
        "verify",
        "rss_flat_engine",
        "rss_flat_consumers",
    }
    assert all(target["met"] in (True, False) for target in report["targets"].values())
