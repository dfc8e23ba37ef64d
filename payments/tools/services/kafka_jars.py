"""Apache Kafka's broker assembled from Maven Central, cached outside the repository.

The machines this project runs on cannot download Kafka's release archive, but Kafka
publishes the broker (`kafka_2.13`) with runtime-scoped dependencies on Maven Central,
so `mvn dependency:copy-dependencies` collects a complete, runnable classpath. Logging
is not in Kafka's POM: log4j2 and its SLF4J 1.x binding are added explicitly.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

from payments.tools.services.config import KAFKA_VERSION, LOG4J_VERSION, ServiceConfig
from payments.tools.services.errors import ServiceError
from payments.tools.services.procs import require_executable

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.payments-engine</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

COMPLETE = ".complete"
MVN_TIMEOUT_S = 600


def ensure_lib(config: ServiceConfig) -> Path:
    """The folder of broker jars; fetched once with mvn, then reused without network."""
    lib = config.kafka_lib
    if (lib / COMPLETE).is_file():
        return lib
    home = lib.parent
    home.mkdir(parents=True, exist_ok=True)
    # Two `up`s at once (e.g. two checkouts) must not fill the folder twice.
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (lib / COMPLETE).is_file():
            return lib
        _fetch(home, lib)
    return lib


def _fetch(home: Path, lib: Path) -> None:
    mvn = require_executable(
        "mvn", "Maven is needed once to fetch the Kafka broker (apt-get install maven)"
    )
    (home / "pom.xml").write_text(POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    log = home / "mvn.log"
    with log.open("w") as out:
        try:
            done = subprocess.run(
                [
                    mvn, "-q", "-B", "-f", str(home / "pom.xml"),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=MVN_TIMEOUT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ServiceError(
                f"fetching Kafka {KAFKA_VERSION} from Maven Central took over "
                f"{MVN_TIMEOUT_S} s: check the network and read {log}"
            ) from None
    jars = list(staging.glob("*.jar")) if staging.is_dir() else []
    if done.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
        text = log.read_text(errors="replace")
        unreachable = any(
            word in text
            for word in ("Could not transfer", "UnknownHost", "Connect to", "timed out")
        )
        cause = "Maven Central is unreachable" if unreachable else "mvn failed"
        raise ServiceError(
            f"could not fetch Kafka {KAFKA_VERSION} jars ({cause}, exit {done.returncode}): "
            f"read {log}"
        )
    (staging / COMPLETE).write_text(KAFKA_VERSION + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
