"""Answer pending screenings with a screener: the provider's side as a command-line run.

`payments screen pending --subjects FILE` reads the screenings still `pending` (no
provider answer yet) from the audit log (projections.queries.list_screenings, as
GET /screenings), looks each one's holder up by its `subject_ref` in FILE (the KYC
store's export: the engine never holds the data), asks the screener (the local one:
payments.integrations.screening.LocalScreener) and publishes the answers as
`record_screening_result` commands signed with the settings' key, whose principal
needs the `screening` role. Each command id is `screening:<screening id>`
(`result_command`), so running it again, or twice at once, is one decision per
screening: a re-sent answer comes back `replayed`. A screening whose `subject_ref`
FILE does not know is left pending and reported.

FILE is a JSON object: `{"<subject_ref>": {"name": "…", "date_of_birth": "YYYY-MM-DD"}}`
(`date_of_birth` optional).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from payments.client.send import SendResult, send_commands
from payments.integrations.screening import LocalScreener, Screener, Subject, result_command
from payments.runtime.settings import Settings
from projections import queries

PAGE = 1000


@dataclass
class ScreeningRun:
    """What one run sent (with the outcomes) and which screenings it could not answer."""

    result: SendResult
    unknown_subjects: list[tuple[str, str]] = field(default_factory=list)  # (id, ref)


def load_subjects(path: Path) -> dict[str, Subject]:
    """The subjects file; ValueError saying what is wrong with it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: must be a JSON object of subject_ref -> subject")
    subjects = {}
    for ref, entry in document.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{path}: {ref}: must be an object with a string name")
        birth = entry.get("date_of_birth", "")
        if not isinstance(birth, str):
            raise ValueError(f"{path}: {ref}: date_of_birth must be a string (YYYY-MM-DD)")
        subjects[ref] = Subject(entry["name"], birth)
    return subjects


def pending_screenings(database_url: str) -> list[dict[str, Any]]:
    """Every pending screening, in screening_id order (read page by page)."""
    found: list[dict[str, Any]] = []
    after = None
    with psycopg.connect(database_url) as conn:
        while True:
            page = queries.list_screenings(
                conn, status="pending", holder_id=None, after=after, limit=PAGE
            )
            found += page
            if len(page) < PAGE:
                return found
            after = page[-1]["screening_id"]


def answers(
    pending: list[dict[str, Any]], subjects: dict[str, Subject], screener: Screener
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The unsigned result commands, and the (screening id, subject_ref) pairs unknown."""
    commands, unknown = [], []
    for screening in pending:
        subject = subjects.get(screening["subject_ref"])
        if subject is None:
            unknown.append((screening["screening_id"], screening["subject_ref"]))
            continue
        answer = screener.screen(subject)
        # The actor is replaced by the signing key's principal (payments.client.send).
        commands.append(result_command(screening["screening_id"], answer, "screening"))
    return commands, unknown


def answer_pending(
    settings: Settings,
    subjects: dict[str, Subject],
    *,
    screener: Screener | None = None,
    timeout: float = 30.0,
    send: Callable[..., SendResult] = send_commands,
) -> ScreeningRun:
    """Answer every pending screening whose subject is known; the outcomes."""
    pending = pending_screenings(settings.require_database_url())
    commands, unknown = answers(pending, subjects, screener or LocalScreener())
    lines = [json.dumps(command) for command in commands]
    result = send(settings, lines, timeout=timeout) if lines else SendResult()
    return ScreeningRun(result, unknown)
