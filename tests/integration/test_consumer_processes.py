"""`payments consume all` as a real supervisor: one child process per projection.

A child killed with SIGKILL is restarted and the tables still catch up; SIGTERM of the
supervisor stops every child and exits 0; SIGKILL of the supervisor leaves no child
running (PR_SET_PDEATHSIG). The children are read from /proc, as the kernel sees them.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from projections.schema import PROJECTIONS
from tests.integration.test_consumers import (  # noqa: F401
    Sandbox,
    assert_tables_match,
    business_day,
    caught_up,
    sandbox,
)
from tests.integration.test_poison_records import free_port, get
from tests.support.consumers import start_consume_all

pytestmark = pytest.mark.integration


def children_of(parent: int) -> dict[int, list[str]]:
    """pid → command line of every live process whose parent is `parent`."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid …": comm may hold spaces and parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z":
            found[int(entry.name)] = cmdline.decode().rstrip("\0").split("\0")
    return found


def consumer_children(parent: int) -> dict[str, int]:
    """projection → pid of the supervisor's `payments.cli consume <name>` children."""
    return {
        cmdline[-1]: pid
        for pid, cmdline in children_of(parent).items()
        if cmdline[-3:-1] == ["payments.cli", "consume"]
    }


def wait_until(condition: Callable[[], object], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (what, log.read_text()[-3000:])
        time.sleep(0.1)


def log_lines(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]


def test_one_child_per_projection_restarted_when_killed_and_stopped_together(
    sandbox: Sandbox,  # noqa: F811
    tmp_path: Path,
) -> None:
    f = business_day(payments=300)
    half = len(f.events) // 2
    sandbox.publish(f.events[:half])
    log_path = tmp_path / "consume.log"
    port = free_port()
    supervisor = start_consume_all(sandbox.url, sandbox.prefix, log_path, port)
    try:
        wait_until(
            lambda: set(consumer_children(supervisor.pid)) == set(PROJECTIONS),
            "one child per projection",
            log_path,
        )
        first = consumer_children(supervisor.pid)
        assert len(children_of(supervisor.pid)) == len(PROJECTIONS)  # and nothing else

        # Kill the audit child mid-stream: it is started again, the others untouched.
        os.kill(first["audit"], signal.SIGKILL)
        sandbox.publish(f.events[half:])
        wait_until(
            lambda: consumer_children(supervisor.pid).get("audit") not in (None, first["audit"]),
            "the audit child restarted",
            log_path,
        )
        wait_until(caught_up(sandbox, f.events), "caught up after the restart", log_path, 120)
        again = consumer_children(supervisor.pid)
        assert {p: again[p] for p in PROJECTIONS if p != "audit"} == {
            p: first[p] for p in PROJECTIONS if p != "audit"
        }
        assert supervisor.poll() is None

        # The usual port serves the children's numbers merged, each family once.
        def green_with_lags() -> dict | None:
            status, body = get(f"http://127.0.0.1:{port}/health")
            health = json.loads(body)
            # Each child's lags appear at its monitor's next sample (every 2 s).
            return (
                health
                if status == 200 and {"balances", "settlements"} <= set(health["lag"])
                else None
            )

        wait_until(green_with_lags, "green, with the children's lags", log_path)
        health = json.loads(get(f"http://127.0.0.1:{port}/health")[1])
        assert set(health["lag"]) <= set(PROJECTIONS)
        assert health["store_position"] == f.events[-1]["position"]
        assert "alarms" not in health
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.count("# TYPE payments_store_position gauge") == 1
        for projection in ("balances", "settlements"):
            assert f'payments_projection_position{{projection="{projection}"}}' in metrics
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0  # every child finished its batch, exit 0
    assert children_of(supervisor.pid) == {}
    assert_tables_match(sandbox, f.events)
    lines = log_lines(log_path)
    exited = [line for line in lines if line.get("event") == "child_exited"]
    assert [(line["child"], line["returncode"]) for line in exited] == [
        ("consume-audit", -signal.SIGKILL)
    ]
    stopped = next(line for line in lines if line.get("event") == "children_stopped")
    assert set(stopped["returncodes"].values()) == {0}
    assert sum(line.get("event") == "consumer.stopped" for line in lines) >= len(PROJECTIONS)


def test_kill_9_of_the_supervisor_leaves_no_child_running(
    sandbox: Sandbox,  # noqa: F811
    tmp_path: Path,
) -> None:
    f = business_day(payments=20)
    sandbox.publish(f.events)
    log_path = tmp_path / "consume.log"
    supervisor = start_consume_all(sandbox.url, sandbox.prefix, log_path, metrics_port=0)
    try:
        wait_until(
            lambda: set(consumer_children(supervisor.pid)) == set(PROJECTIONS),
            "one child per projection",
            log_path,
        )
        children = list(consumer_children(supervisor.pid).values())
    finally:
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=30)

    def all_gone() -> bool:
        # Reparented (to init or a subreaper) once the supervisor died: look them up by pid.
        return not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in children)

    wait_until(all_gone, "the children died with the supervisor", log_path, timeout=10)


def test_threads_runs_every_projection_in_one_process(
    sandbox: Sandbox,  # noqa: F811
    tmp_path: Path,
) -> None:
    f = business_day(payments=20)
    sandbox.publish(f.events)
    log_path = tmp_path / "consume.log"
    process = start_consume_all(sandbox.url, sandbox.prefix, log_path, 0, "--threads")
    try:
        wait_until(caught_up(sandbox, f.events), "caught up", log_path)
        assert children_of(process.pid) == {}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert_tables_match(sandbox, f.events)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
