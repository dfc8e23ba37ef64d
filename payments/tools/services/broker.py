"""A single-node KRaft Kafka broker (broker + controller in one JVM) on 127.0.0.1.

Started detached in its own process group with a pid file; `down` signals that group
only after checking /proc that the pid still is this broker.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from payments.tools.services import secrets_file
from payments.tools.services.config import ServiceConfig
from payments.tools.services.errors import ServiceError
from payments.tools.services.procs import is_alive, our_pid, port_open, require_executable

READY_TIMEOUT_S = 90
MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"  # the super user: topics, ACLs, SCRAM users
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
STOP_TIMEOUT_S = 30
JAVA_OPTS = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]

SERVER_PROPERTIES = """\
# written by `payments services up` on every start (ports may change); mode 0600:
# it holds the admin principal's password
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
# Clients: SASL/SCRAM-SHA-512, users bootstrapped at format time (docs/security.md).
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_jaas}
# The controller listener (loopback, this JVM only): SASL/PLAIN with a static admin
# user, because SCRAM cannot authenticate the controller before its metadata exists.
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_jaas}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin}
allow.everyone.if.no.acl.found=false
log.dirs={data}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.dedupe.buffer.size=8388608
log.retention.hours=168
"""

LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="{log}" filePattern="{log}.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.controller" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def paths(config: ServiceConfig) -> dict[str, Path]:
    k = config.kafka_dir
    return {
        "dir": k,
        "data": k / "data",
        "tmp": k / "tmp",
        "properties": k / "server.properties",
        "log4j": k / "log4j2.xml",
        "log": k / "server.log",
        "stdout": k / "stdout.log",
        "pid": k / "kafka.pid",
        "cluster_id": k / "cluster_id",
        "scram_marker": k / "scram-users",
    }


def running_pid(config: ServiceConfig) -> int | None:
    p = paths(config)
    return our_pid(p["pid"], "kafka.Kafka", str(p["properties"]))


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding, never starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def check_state(config: ServiceConfig) -> None:
    data = paths(config)["data"]
    if data.is_dir() and any(data.iterdir()) and not (data / "meta.properties").is_file():
        raise ServiceError(
            f"{data} is a half-made Kafka log folder (no meta.properties): run "
            f"`payments services down --purge` or remove {config.state_dir}"
        )


def is_plaintext_era(config: ServiceConfig) -> bool:
    """State from before SASL: formatted storage without its SCRAM users (or none at all).

    Such a broker knows no principal, and SCRAM users can only be bootstrapped when
    storage is formatted, so `up` stops it and formats its log folder anew.
    """
    p = paths(config)
    return (p["data"] / "meta.properties").is_file() and not p["scram_marker"].is_file()


def reset_plaintext_era(config: ServiceConfig) -> None:
    stop(config)
    p = paths(config)
    shutil.rmtree(p["data"], ignore_errors=True)
    p["cluster_id"].unlink(missing_ok=True)


def _java() -> str:
    return require_executable(
        "java", "install a Java 17+ runtime (apt-get install openjdk-17-jdk-headless)"
    )


def _jaas(module: str, user: str, password: str, **users: str) -> str:
    # Passwords are token_urlsafe: no quote, backslash or space to escape.
    extra = "".join(f' user_{name}="{secret}"' for name, secret in users.items())
    return f'{module} required username="{user}" password="{password}"{extra};'


def _write_config(config: ServiceConfig, passwords: dict[str, str]) -> None:
    p = paths(config)
    for folder in (p["dir"], p["data"], p["tmp"]):
        folder.mkdir(parents=True, exist_ok=True)
    admin = passwords[secrets_file.kafka_key(ADMIN)]
    secrets_file.write_private(
        p["properties"],
        SERVER_PROPERTIES.format(
            port=config.kafka_port,
            controller_port=config.controller_port,
            data=p["data"],
            admin=ADMIN,
            scram_jaas=_jaas(SCRAM_MODULE, ADMIN, admin),
            plain_jaas=_jaas(PLAIN_MODULE, ADMIN, admin, **{ADMIN: admin}),
        ),
    )
    p["log4j"].write_text(LOG4J2_XML.format(log=p["log"]))


def _jvm(config: ServiceConfig, lib: Path, main: list[str]) -> list[str]:
    p = paths(config)
    return [
        _java(),
        *JAVA_OPTS,
        f"-Dlog4j2.configurationFile={p['log4j']}",
        f"-Djava.io.tmpdir={p['tmp']}",
        "-cp",
        f"{lib}/*",
        *main,
    ]


def _format_once(config: ServiceConfig, lib: Path, passwords: dict[str, str]) -> None:
    p = paths(config)
    if (p["data"] / "meta.properties").is_file():
        return
    if not p["cluster_id"].is_file():
        p["cluster_id"].write_text(new_cluster_id())
    cluster_id = p["cluster_id"].read_text().strip()
    scram = [
        f"--add-scram={MECHANISM}=[name={name},password={passwords[secrets_file.kafka_key(name)]}]"
        for name in secrets_file.KAFKA_PRINCIPALS
    ]
    # The passwords go into a 0600 argument file (`java @file`), never on the command
    # line, where any local user could read them in /proc.
    argfile = p["dir"] / "format.args"
    args = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(p["properties"])]
    secrets_file.write_private(argfile, "\n".join([*args, *scram]) + "\n")
    try:
        done = subprocess.run(
            _jvm(config, lib, [f"@{argfile}"]),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        argfile.unlink(missing_ok=True)
    if done.returncode != 0:
        (p["dir"] / "format.log").write_text(done.stdout + done.stderr)
        raise ServiceError(f"formatting Kafka storage failed: read {p['dir'] / 'format.log'}")
    p["scram_marker"].write_text("SCRAM users bootstrapped at format time\n")


def start(config: ServiceConfig, lib: Path, passwords: dict[str, str]) -> int:
    """Write the config, format storage if new, start the broker detached; return its pid."""
    _java()
    _write_config(config, passwords)
    _format_once(config, lib, passwords)
    p = paths(config)
    with p["stdout"].open("ab") as out:
        proc = subprocess.Popen(
            _jvm(config, lib, ["kafka.Kafka", str(p["properties"])]),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=p["dir"],
            start_new_session=True,  # own process group: `down` signals the group
        )
    p["pid"].write_text(f"{proc.pid}\n")
    return proc.pid


def admin_auth(passwords: dict[str, str]) -> dict[str, Any]:
    """kafka-python keyword arguments of the admin principal."""
    return client_auth(ADMIN, passwords)


def client_auth(principal: str, passwords: dict[str, str]) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": principal,
        "sasl_plain_password": passwords[secrets_file.kafka_key(principal)],
    }


def wait_ready(
    config: ServiceConfig, pid: int, auth: dict[str, Any], timeout: float = READY_TIMEOUT_S
) -> None:
    """Until a kafka-python metadata request succeeds; fail early if the JVM dies."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    p = paths(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise ServiceError(
                f"the Kafka broker exited during start: read {p['stdout']} and {p['log']}"
            )
        if port_open(config.kafka_port):
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=config.kafka_bootstrap, request_timeout_ms=5000, **auth
                )
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except KafkaError:
                pass
        time.sleep(0.5)
    raise ServiceError(
        f"the Kafka broker did not answer on {config.kafka_bootstrap} within {timeout:.0f} s: "
        f"read {p['log']}"
    )


def stop(config: ServiceConfig) -> bool:
    """SIGTERM the broker's process group, SIGKILL after a timeout; False if not running."""
    pid = running_pid(config)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and is_alive(pid):
        time.sleep(0.2)
    if is_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while is_alive(pid):
            time.sleep(0.1)
    paths(config)["pid"].unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The broker leads its own group (start_new_session); it may be gone already.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
