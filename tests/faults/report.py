"""What each fault round found, kept for docs/reliability.md (written at session end)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Round:
    scenario: str
    injections: dict[str, int] = field(default_factory=dict)
    commands: int = 0  # distinct commands the clients published
    sends: int = 0  # publishes including duplicate re-sends
    in_flight: list[int] = field(default_factory=list)  # unanswered at each injection
    relay_duplicates: int = 0  # events seen twice on the topic (relay re-sends)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the failure

    def failures(self) -> dict[str, str]:
        return {name: result for name, result in self.checks.items() if result != "ok"}


class Report:
    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.rounds: list[Round] = []
        self._lock = threading.Lock()

    def add(self, found: Round) -> Round:
        with self._lock:
            self.rounds.append(found)
        return found

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"profile": self.profile, "rounds": [asdict(r) for r in self.rounds]}
        path.write_text(json.dumps(document, indent=2))
