"""Where the time goes: a summary of py-spy's collapsed stacks (`--format raw`).

Each line of the raw file is `frame;frame;… count`. Inclusive share = the fraction of
a thread's samples in which the frame appears; the summary keeps the stacks that
pass through `focus` (e.g. the intake loop) so idle Kafka and pool threads do not
dilute it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def summarize(raw: Path, focus: str = "", top: int = 30) -> list[tuple[float, str]]:
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or (focus and focus not in stack):
            continue
        samples = int(count)
        total += samples
        for frame in set(stack.split(";")[1:]):  # [0] names the process
            inclusive[frame] += samples
    if not total:
        return []
    # Frames on every sampled stack (interpreter start, click, the loop's callers) say
    # nothing about where the time goes.
    rows = [(n / total, f) for f, n in inclusive.most_common() if n < total or focus in f]
    return rows[:top]


def write_summary(raw: Path, focus: str, top: int = 40) -> Path:
    target = raw.with_suffix(".top.txt")
    rows = summarize(raw, focus, top)
    target.write_text("".join(f"{share:6.1%}  {frame}\n" for share, frame in rows))
    return target
