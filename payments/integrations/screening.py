"""The screening provider's side: an adapter interface and a local deterministic screener.

The engine never calls a provider (the domain does no I/O). A `Screener` is given the
holder's data, looked up by the screening's `subject_ref` outside the engine, and its
`Answer` becomes the `record_screening_result` command the provider's principal (role
`screening`) signs: `result_command`. Its command id is `screening:<screening id>`, so
answering twice is one decision. A real provider (e.g. an OpenSanctions yente
`POST /match/{dataset}`) is another `Screener`.

`LocalScreener` matches against a small fictional watch list, deterministically: the
name's words, case, accents and punctuation aside, must equal an entry's (score 90),
and 100 when the year of birth agrees too; no personal data leaves it but the entry ids.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Subject:
    name: str
    date_of_birth: str = ""  # ISO-8601 date, '' when unknown


@dataclass(frozen=True)
class Answer:
    result: Literal["clear", "hit"]
    score: int
    matches: tuple[str, ...]
    reason: str


class Screener(Protocol):
    def screen(self, subject: Subject) -> Answer: ...


@dataclass(frozen=True)
class WatchEntry:
    entry_id: str
    name: str
    birth_year: str = ""


# Fictional people: the demo's and the tests' hits.
LOCAL_WATCH_LIST = (
    WatchEntry("wl-0001", "Ivan Placeholder", "1961"),
    WatchEntry("wl-0002", "Joana da Silva Exemplo", "1975"),
    WatchEntry("wl-0003", "Mallory Sanctioned"),
)


def _words(name: str) -> tuple[str, ...]:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isalnum() else " " for c in plain.casefold())
    return tuple(sorted(kept.split()))


class LocalScreener:
    def __init__(self, entries: tuple[WatchEntry, ...] = LOCAL_WATCH_LIST) -> None:
        self._entries = entries

    def screen(self, subject: Subject) -> Answer:
        words, year = _words(subject.name), subject.date_of_birth[:4]
        hits = [
            (100 if e.birth_year and e.birth_year == year else 90, e.entry_id)
            for e in self._entries
            if _words(e.name) == words
        ]
        if not hits:
            return Answer("clear", 0, (), "no match on the local watch list")
        score = max(s for s, _ in hits)
        matched = tuple(sorted(entry for _, entry in hits))
        return Answer("hit", score, matched, f"local watch list: {len(matched)} match(es)")


def result_command(screening_id: str, answer: Answer, actor: str) -> dict[str, Any]:
    """The unsigned `record_screening_result` envelope for one answer."""
    return {
        "command_id": f"screening:{screening_id}",
        "type": "record_screening_result",
        "actor": actor,
        "payload": {
            "screening_id": screening_id,
            "result": answer.result,
            "score": answer.score,
            "matches": list(answer.matches),
            "reason": answer.reason,
        },
    }
