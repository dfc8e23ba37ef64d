"""A private PostgreSQL 15 cluster in the state folder, on 127.0.0.1 only.

initdb and postgres refuse to run as root, so as root they run as an unprivileged
system user (`payments-pg`) through `runuser`. Every role logs in with a random
password (scram-sha-256, also on the unix socket) kept in the state folder.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from payments.contract.database_roles import (
    AUDIT_ROLE,
    ENGINE_ROLE,
    PROCESS_ROLES,
    PROJECTOR_ROLE,
    QUERY_ROLE,
    RECONCILER_ROLE,
)
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError
from payments.tools.services.procs import cmdline, is_alive, read_pid

PG_USER = "payments-pg"
DATABASE = "payments"
SUPERUSER = "postgres"
ADMIN_ROLE = "payments_admin"
# The operator's role (tools, tests, `--principal admin`): a member of the engine and
# projector roles, so it can do what either does; no process runs as it.
APP_ROLE = "payments_app"
# The database role of each principal (payments services env --principal …).
DATABASE_ROLE_OF = {
    "client": QUERY_ROLE,
    "engine": ENGINE_ROLE,
    "projections": PROJECTOR_ROLE,
    "audit": AUDIT_ROLE,
    "admin": APP_ROLE,
    # Not a principal of its own: the API (`client`) gets its URL for statement imports.
    "reconciler": RECONCILER_ROLE,
}
BINDIR_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")
START_TIMEOUT_S = 60

# Tuned for a test machine: fsync stays on (it is a payments engine).
SERVER_CONF = """
# --- written by `payments services up` ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
max_connections = 200
shared_buffers = 256MB
fsync = on
"""


def find_bindir(config: ServiceConfig) -> Path:
    """The folder of initdb/pg_ctl/postgres 15: configured, from pg_config, or usual places."""
    candidates: list[Path] = []
    if config.pg_bindir is not None:
        candidates = [config.pg_bindir]
    else:
        candidates = [Path(c) for c in BINDIR_CANDIDATES]
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                candidates.insert(1, Path(out.stdout.strip()))
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    where = ", ".join(str(c) for c in candidates)
    raise ServiceError(
        f"PostgreSQL 15 server binaries (initdb, pg_ctl, postgres) were not found in {where}: "
        "install them (apt-get install postgresql-15) or point PAYMENTS_PG_BINDIR at them"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _reachable_by_others(path: Path) -> bool:
    """True when an unprivileged user can traverse every folder down to `path`."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def pg_root(config: ServiceConfig) -> Path:
    """The cluster's folder: inside the state folder, unless the pg user cannot reach it.

    A checkout under /root cannot be entered by `payments-pg`; then the cluster lives
    in /var/lib/payments-engine/<hash of the state folder> instead (purge removes it).
    """
    inside = config.state_dir / "postgres"
    if not _as_root() or _reachable_by_others(config.state_dir):
        return inside
    digest = hashlib.sha256(str(config.state_dir).encode()).hexdigest()[:12]
    return Path("/var/lib/payments-engine") / digest / "postgres"


def data_dir(config: ServiceConfig) -> Path:
    return pg_root(config) / "data"


def log_file(config: ServiceConfig) -> Path:
    return pg_root(config) / "postgres.log"


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
        capture_output=True,
        text=True,
    )
    # Exit 9: another process created it meanwhile.
    if done.returncode not in (0, 9):
        raise ServiceError(f"could not create the system user {PG_USER}: {done.stderr.strip()}")
    return pwd.getpwnam(PG_USER)


def _run_as_pg(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", PG_USER, "--"] if _as_root() else []
    return subprocess.run(
        prefix + args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _give_to_pg_user(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if _as_root():
        user = _ensure_os_user()
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(mode)


def running_pid(config: ServiceConfig) -> int | None:
    """The postmaster's pid when our cluster runs (postmaster.pid checked against /proc)."""
    data = data_dir(config)
    pid = read_pid(data / "postmaster.pid")
    if pid is None or not is_alive(pid):
        return None
    args = cmdline(pid)
    return pid if args and args[0].endswith("postgres") and str(data) in args else None


def check_state(config: ServiceConfig, have_secrets: bool) -> bool:
    """Whether the cluster exists; raise on a half-made one."""
    data = data_dir(config)
    if (data / "PG_VERSION").is_file():
        if not have_secrets:
            raise ServiceError(
                f"the cluster in {data} exists but its passwords ({config.secrets_file}) are "
                "gone: run `payments services down --purge` to start afresh"
            )
        return True
    if data.exists() and any(data.iterdir()):
        raise ServiceError(
            f"{data} is a half-made PostgreSQL data folder (no PG_VERSION): run "
            f"`payments services down --purge` or remove {config.state_dir}"
        )
    return False


def init_cluster(config: ServiceConfig, superuser_password: str) -> None:
    bindir = find_bindir(config)
    root = pg_root(config)
    _give_to_pg_user(root, 0o755)
    _give_to_pg_user(root / "run", 0o755)
    data = data_dir(config)
    if data.exists():
        data.rmdir()  # empty (check_state said so); initdb wants to create it itself
    pwfile = root / "initdb.pw"
    pwfile.write_text(superuser_password + "\n")
    _give_to_pg_user_file(pwfile)
    try:
        done = _run_as_pg(
            [
                str(bindir / "initdb"),
                "-D", str(data),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--no-locale",
            ]
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise ServiceError(f"initdb failed in {data}: {done.stderr.strip()[-500:]}")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_CONF.format(sockets=root / "run"))


def _give_to_pg_user_file(path: Path) -> None:
    path.chmod(0o600)
    if _as_root():
        user = _ensure_os_user()
        os.chown(path, user.pw_uid, user.pw_gid)


def start(config: ServiceConfig) -> None:
    bindir = find_bindir(config)
    log = log_file(config)
    done = _run_as_pg(
        [
            str(bindir / "pg_ctl"),
            "-D", str(data_dir(config)),
            "-l", str(log),
            "-w", "-t", str(START_TIMEOUT_S),
            "-o", f"-p {config.pg_port}",
            "start",
        ],
        timeout=START_TIMEOUT_S + 30,
    )  # fmt: skip
    if done.returncode != 0:
        raise ServiceError(
            f"PostgreSQL did not start on 127.0.0.1:{config.pg_port} within "
            f"{START_TIMEOUT_S} s: read {log}"
        )


def stop(config: ServiceConfig) -> bool:
    """Stop our cluster (fast shutdown); False when it was not running."""
    if running_pid(config) is None:
        return False
    bindir = find_bindir(config)
    done = _run_as_pg(
        [str(bindir / "pg_ctl"), "-D", str(data_dir(config)), "-m", "fast", "-w", "-t", "60",
         "stop"],
        timeout=90,
    )  # fmt: skip
    if done.returncode != 0:
        raise ServiceError(f"pg_ctl stop failed: read {log_file(config)}")
    return True


def url(
    port: int, role: str, password: str, database: str = DATABASE, host: str = "127.0.0.1"
) -> str:
    return f"postgresql://{role}:{password}@{host}:{port}/{database}"


def bootstrap(port: int, passwords: dict[str, str], host: str = "127.0.0.1") -> None:
    """Roles and database (idempotent): admin owns db and schema; each process role may
    connect (its table rights come with the schema, payments.tools.schema).

    Takes host and port rather than the config so a PostgreSQL in a container (test
    fixtures with Docker) is set up exactly like the local cluster.
    """
    superuser_url = url(port, SUPERUSER, passwords[SUPERUSER], "postgres", host)
    with psycopg.connect(superuser_url, autocommit=True, connect_timeout=10) as conn:
        for role in (ADMIN_ROLE, APP_ROLE, *PROCESS_ROLES):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(passwords[role])
                )
            )
        conn.execute(
            sql.SQL("GRANT {}, {} TO {}").format(
                sql.Identifier(ENGINE_ROLE),
                sql.Identifier(PROJECTOR_ROLE),
                sql.Identifier(APP_ROLE),
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(ADMIN_ROLE)
                )
            )
        db = sql.Identifier(DATABASE)
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                db, sql.Identifier(APP_ROLE)
            )
        )
    with psycopg.connect(
        url(port, SUPERUSER, passwords[SUPERUSER], DATABASE, host),
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(ADMIN_ROLE)))
        # Tests make tables of their own (the process roles' rights: tools/schema.py).
        conn.execute(
            sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(APP_ROLE))
        )


def purge(config: ServiceConfig, say: Callable[[str], None]) -> None:
    root = pg_root(config)
    if not root.is_relative_to(config.state_dir) and root.exists():
        shutil.rmtree(root.parent)
        say(f"removed {root.parent}")
