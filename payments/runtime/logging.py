"""structlog set up once per process: JSON lines off a terminal, readable lines on one.

Per unit of work the caller binds ids (`command_id`, `payment_id`, …) with
`structlog.contextvars`, so every line about a command carries them.
"""

from __future__ import annotations

import logging
import sys

import structlog

from payments.runtime.settings import Settings


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper())
    as_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line: print() writes the line and its newline separately, and
        # children sharing the supervisor's stderr then ran two lines into one.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # kafka-python and the eventsourcing library log through stdlib logging: keep
    # their chatter at warning so one line per unit of work stays readable.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)
    # kafka-python warns on every SCRAM login over a listener without TLS. Once per
    # process says it (docs/security.md: production adds TLS); on every connection it
    # drowns a command's one-line output.
    logging.getLogger("kafka.net.sasl.scram").addFilter(_ONCE)  # adding it again is a no-op


class _Once(logging.Filter):
    """Lets each distinct message through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


_ONCE = _Once()
