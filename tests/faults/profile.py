"""How hard the fault suite pushes: `quick` injects each fault once, `long` many times."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    repeats: int  # rounds of each fault scenario
    clients: int  # concurrent client threads of the bank workload
    commands_per_client: int
    workload_seconds: float  # the clients pace themselves over about this long
    engine_kills: int  # kill -9s of the engine in one round
    fuzz_examples: int  # hypothesis records through the engine
    seed: int = 20261128


PROFILES = {
    "quick": Profile(
        "quick",
        repeats=1,
        clients=3,
        commands_per_client=90,
        workload_seconds=9.0,
        engine_kills=2,
        fuzz_examples=300,
    ),
    "long": Profile(
        "long",
        repeats=3,
        clients=4,
        commands_per_client=400,
        workload_seconds=30.0,
        engine_kills=6,
        fuzz_examples=3000,
    ),
}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown faults profile {name!r}: use one of {sorted(PROFILES)}"
        ) from None
