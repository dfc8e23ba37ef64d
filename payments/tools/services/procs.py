"""Process and port helpers: pid files checked against /proc, never names."""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

from payments.tools.services.errors import ServiceError


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes (it only waits to be reaped).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def our_pid(pid_file: Path, *markers: str) -> int | None:
    """The pid in `pid_file` if that process lives and its command line has every marker.

    A pid file whose process is gone (or was replaced by another program that got
    the same pid) is stale: it is removed and None is returned.
    """
    pid = read_pid(pid_file)
    if pid is None:
        if pid_file.exists():
            pid_file.unlink()
        return None
    args = " ".join(cmdline(pid))
    if is_alive(pid) and all(marker in args for marker in markers):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def check_port_free(port: int, what: str, env_name: str) -> None:
    """Fail with a clear sentence when something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR ignores TIME_WAIT leftovers but still fails on a live listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServiceError(
                    f"port {port} on 127.0.0.1 (wanted by {what}) is already in use by another "
                    f"program: stop it, or choose another port with {env_name}=<port>"
                ) from None
            raise


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_executable(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"`{name}` was not found on PATH: {hint}")
    return found
