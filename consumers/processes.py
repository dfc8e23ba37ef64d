"""`payments consume all`: one child process per projection, supervised, stopped together.

Each projection's loop is CPU-bound Python (the audit log's canonical JSON and SHA-256
above all); as threads of one process they share one GIL, as processes each has a core
when there is one. Each child is `payments consume <name>`, exactly the single-projection
process: its own consumer group, connection and transactions, its positions in
PostgreSQL. The children die with this process (PR_SET_PDEATHSIG, payments.runtime.
supervisor): after a kill -9 each resumes from its stored positions on the next start.
A child that exits is restarted; SIGTERM/SIGINT stop them all at once, and this process
exits 0 when every child did.

The consumers' /metrics and /health stay on the usual port (9465 or
PAYMENTS_METRICS_PORT), served here by merging the children's: each child serves its
own on a free loopback port (none at all when the port is 0).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

import structlog

from payments.runtime.observability.children import ChildrenEndpoints
from payments.runtime.observability.server import (
    CONSUMERS_PORT,
    HOST,
    metrics_port,
    serve_endpoints,
)
from payments.runtime.settings import Settings
from payments.runtime.stop_signals import install_stop_signals
from payments.runtime.supervisor import ChildSpec, Supervisor

log = structlog.get_logger(__name__)


def free_loopback_port() -> int:
    # The port is free now; the child binds it a moment later (and again on restart:
    # the server reuses the address), so a clash is unlikely and only costs its metrics.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def child_name(projection: str) -> str:
    return f"consume-{projection}"


def consumer_children(projections: Sequence[str], with_metrics: bool) -> dict[str, int]:
    """A metrics port for each projection's child, by child name (0: none)."""
    return {child_name(p): free_loopback_port() if with_metrics else 0 for p in projections}


def run_consumer_processes(settings: Settings, projections: Sequence[str]) -> int:
    """Supervise one `payments consume <name>` per projection; 0 when all exited 0."""
    stop = threading.Event()
    install_stop_signals(stop)
    port = metrics_port(settings, CONSUMERS_PORT)
    ports = consumer_children(projections, with_metrics=port != 0)
    specs = [
        ChildSpec(
            child_name(p), ("consume", p), {"PAYMENTS_METRICS_PORT": str(ports[child_name(p)])}
        )
        for p in projections
    ]
    observability = serve_endpoints(port, ChildrenEndpoints(ports)) if port else None
    supervisor = Supervisor(specs, stop)
    supervisor.start()
    log.info("consumer.supervising", projections=list(projections), metrics_ports=ports)
    # Wait with a timeout so the main thread stays responsive to signals.
    while supervisor.is_alive():
        supervisor.join(timeout=0.5)
    if observability is not None:
        observability.stop()
    returncodes = supervisor.returncodes
    log.info("consumer.supervisor_stopped", returncodes=returncodes)
    return 0 if supervisor.all_succeeded else 1
