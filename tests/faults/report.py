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
    replay_first: int = 0  # commands first answered by a replay (crash after commit)
    seconds: dict[str, float] = field(default_factory=dict)  # per phase
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the failure
    answers: dict[str, str] = field(default_factory=dict)  # hostile input: what came back

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

    def named(self, scenario: str) -> Round:
        """The round of that name, created on first use (tests that share one row)."""
        with self._lock:
            for found in self.rounds:
                if found.scenario == scenario:
                    return found
            self.rounds.append(Round(scenario))
            return self.rounds[-1]

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"profile": self.profile, "rounds": [asdict(r) for r in self.rounds]}
        path.write_text(json.dumps(document, indent=2))


CHECKS = (
    "outcomes",
    "ledger_zero_sum",
    "account_postings",
    "events_topic",
    "read_model",
    "verify",
    "engine_answers",
    "engine_survived",
    "consumers_alive",
)


def markdown(document: dict) -> str:
    """The fault rounds as one table (a row per round), then a table per other round."""
    head = ["scenario", "injected", "commands (sends)", "in flight at injection",
            "relay re-sends (new on the topic)", "first answer a replay",
            "seconds (setup/workload/answers/checks)", *CHECKS]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    others = []
    previous: int | None = None  # the events topic outlives rounds: show what each added
    for r in document["rounds"]:
        if not r["injections"]:
            others.append(r)
            continue
        injected = ", ".join(f"{k} ×{v}" for k, v in r["injections"].items())
        in_flight = ", ".join(map(str, r["in_flight"])) or "-"
        seconds = "/".join(f"{v:g}" for v in r.get("seconds", {}).values()) or "-"
        total = r["relay_duplicates"]
        resends = f"{total} (topic total)" if previous is None else f"+{total - previous}"
        previous = total
        cells = [r["scenario"], injected, f"{r['commands']} ({r['sends']})", in_flight,
                 resends, str(r.get("replay_first", 0)), seconds]  # fmt: skip
        cells += [r["checks"].get(name, "n/a") for name in CHECKS]
        lines.append(_row(cells))
    for r in others:
        lines += ["", f"**{r['scenario']}** ({r['commands']} records)", ""]
        lines += ["| check | result | what came back |", "|---|---|---|"]
        for name, result in r["checks"].items():
            lines.append(_row([name, result, r.get("answers", {}).get(name, "")]))
        for name, answer in r.get("answers", {}).items():
            if name not in r["checks"]:
                lines.append(_row([name, "", answer]))
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    clean = [c.replace("|", "/").replace("\n", " ") for c in cells]
    return "| " + " | ".join(clean) + " |"


if __name__ == "__main__":
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
