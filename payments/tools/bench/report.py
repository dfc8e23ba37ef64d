"""The run's figures as JSON and as a rich table, with ratios and targets.

Ratios put each of our figures beside the references measured in the same run:
rates (commands/s, events/s) divided by pgbench's tps and by the naive baseline's
tps; latencies divided by pgbench's average transaction latency. Targets are the
ones docs/benchmarks.md states; a figure without a value meets no target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from payments.tools.bench.runner import RunResult

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    value: float | None
    bound: float | None
    higher_is_better: bool

    @property
    def met(self) -> bool | None:
        if self.value is None or self.bound is None:
            return None
        return self.value >= self.bound if self.higher_is_better else self.value < self.bound

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "value": self.value,
            "bound": self.bound,
            "met": self.met,
        }


def _get(data: dict[str, Any], *path: str | int) -> Any:
    for step in path:
        try:
            data = data[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def targets(result: RunResult) -> list[Target]:
    figures, refs = result.figures, result.references
    throughput = _get(figures, "throughput", "commands_per_s")
    pgbench = _get(refs, "pgbench", "tps")
    naive = _get(refs, "naive_eventsourcing", "tps")
    return [
        Target(
            "throughput_vs_pgbench", "throughput ≥ pgbench TPC-B tps", throughput, pgbench, True
        ),
        Target(
            "throughput_vs_naive",
            "throughput ≥ 10 × naive event-sourced tps",
            throughput,
            None if naive is None else 10 * naive,
            True,
        ),
        Target(
            "p99_at_25pct",
            "p99 latency < 50 ms at 25 % of max",
            _get(figures, "latency", 0, "p99_ms"),
            50.0,
            False,
        ),
        Target(
            "read_model_lag",
            "read models caught up < 2 s",
            figures.get("read_model_lag_s"),
            2.0,
            False,
        ),
        Target(
            "replay",
            "replay ≥ 50,000 events/s",
            _get(figures, "replay", "events_per_s"),
            50_000.0,
            True,
        ),
        Target(
            "verify",
            "verify ≥ 30,000 events/s",
            _get(figures, "verify", "events_per_s"),
            30_000.0,
            True,
        ),
        *(
            Target(
                f"rss_flat_{name}",
                f"peak RSS {name} flat: 2nd half of the measured phases < 1.1 × 1st",
                _get(figures, "memory_curve", "growth", name),
                1.1,
                False,
            )
            for name in ("engine", "consumers")
        ),
    ]


def ratios(result: RunResult) -> dict[str, dict[str, float | None]]:
    figures, refs = result.figures, result.references
    pgbench = _get(refs, "pgbench", "tps")
    naive = _get(refs, "naive_eventsourcing", "tps")
    pgbench_ms = _get(refs, "pgbench", "latency_avg_ms")

    def per(value: float | None, reference: float | None) -> float | None:
        return None if value is None or not reference else value / reference

    rates = {
        "throughput_commands_per_s": _get(figures, "throughput", "commands_per_s"),
        "replay_events_per_s": _get(figures, "replay", "events_per_s"),
        "verify_events_per_s": _get(figures, "verify", "events_per_s"),
    }
    found = {
        name: {"x_pgbench_tps": per(value, pgbench), "x_naive_tps": per(value, naive)}
        for name, value in rates.items()
    }
    for row in figures.get("latency") or []:
        label = f"{round(row['fraction_of_max'] * 100)}pct"
        for q in ("p50_ms", "p99_ms"):
            found[f"latency_{label}_{q}"] = {"x_pgbench_latency": per(row[q], pgbench_ms)}
    return found


def to_json(result: RunResult) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "meta": result.meta,
        "workload": result.workload,
        "figures": result.figures,
        "references": result.references,
        "ratios": ratios(result),
        "targets": {t.name: t.to_json() for t in targets(result)},
        "correctness": result.correctness.to_json(),
    }


def write_json(result: RunResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), indent=2, default=str) + "\n")


def _num(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _render_cpu(cpu: dict[str, Any], console: Console) -> None:
    """Where the CPU went during the throughput phase (payments.tools.bench.cpu)."""
    if not cpu:
        return
    commits = _num(cpu.get("postgresql_commits_per_s"), 0, "/s")
    busy = _num(100 * cpu.get("machine_busy_fraction", 0), 0)
    table = Table(
        title=f"CPU during the throughput phase ({cpu.get('cores')} cores, {busy} % busy, "
        f"PostgreSQL commits {commits})"
    )
    for column in ("process", "cores busy", "µs of CPU per command"):
        table.add_column(column)
    per_command = cpu.get("cpu_us_per_command") or {}
    for name, busy in sorted((cpu.get("cores_busy") or {}).items(), key=lambda kv: -kv[1]):
        table.add_row(name, _num(busy, 2), _num(per_command.get(name), 0))
    console.print(table)


def render(result: RunResult, console: Console) -> None:
    figures, refs, rat = result.figures, result.references, ratios(result)
    table = Table(
        title=f"payments bench — {result.meta.get('size')} (run {result.meta.get('run_id')})"
    )
    for column in ("figure", "value", "÷ pgbench", "÷ naive ES"):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def rate_row(label: str, key: str, value: float | None, unit: str) -> None:
        row = rat.get(key, {})
        table.add_row(
            label, _num(value, 0, unit), _x(row.get("x_pgbench_tps")), _x(row.get("x_naive_tps"))
        )

    rate_row(
        "throughput",
        "throughput_commands_per_s",
        _get(figures, "throughput", "commands_per_s"),
        " cmd/s",
    )
    for row in figures.get("latency") or []:
        label = f"{round(row['fraction_of_max'] * 100)}pct"
        table.add_row(
            f"latency p50/p95/p99 at {label[:-3]}% ({_num(row['offered_per_s'])}/s)",
            f"{_num(row['p50_ms'], 1)}/{_num(row['p95_ms'], 1)}/{_num(row['p99_ms'], 1)} ms",
            _x(_get(rat, f"latency_{label}_p99_ms", "x_pgbench_latency")),
            "",
        )
    table.add_row("read-model lag", _num(figures.get("read_model_lag_s"), 2, " s"), "", "")
    rate_row(
        "replay (all projections)",
        "replay_events_per_s",
        _get(figures, "replay", "events_per_s"),
        " ev/s",
    )
    rate_row("verify", "verify_events_per_s", _get(figures, "verify", "events_per_s"), " ev/s")
    memory = figures.get("memory_peak_rss_mb") or {}
    for name in ("engine", "consumers"):
        table.add_row(f"peak RSS {name}", _num(memory.get(name), 0, " MiB"), "", "")
        ratio = _get(figures, "memory_curve", "growth", name)
        table.add_row(f"RSS growth {name} (2nd ÷ 1st half)", _num(ratio, 2, "×"), "", "")
    table.add_row("events stored", _num(figures.get("events")), "", "")
    table.add_row("", "", "", "")
    table.add_row(
        "pgbench TPC-B (reference)", _num(_get(refs, "pgbench", "tps"), 0, " tps"), "", ""
    )
    table.add_row(
        "naive event sourcing (reference)",
        _num(_get(refs, "naive_eventsourcing", "tps"), 0, " tps"),
        "",
        "",
    )
    console.print(table)
    _render_cpu(figures.get("throughput_cpu") or {}, console)

    checks = Table(title="targets")
    for column in ("target", "value", "bound", "met"):
        checks.add_column(column)
    for target in targets(result):
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "—"}[target.met]
        checks.add_row(target.description, _num(target.value, 2), _num(target.bound, 2), met)
    console.print(checks)

    correctness = result.correctness
    if correctness.passed:
        console.print(
            f"[green]correct[/green]: {correctness.outcomes} outcomes for "
            f"{correctness.published} commands, {correctness.rejected} rejected as expected "
            f"({correctness.expected_rejections} certain), payments verify passed"
        )
    else:
        console.print("[red]run FAILED its correctness checks; no throughput reported:[/red]")
        for failure in correctness.failures():
            console.print(f"  - {failure}")
        for example in correctness.examples[:5]:
            console.print(f"    {example}")
