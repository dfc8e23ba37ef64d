"""The personal-data part of the contract's day: a holder registered, then erased.

Its personal data is sealed under a documentation KEK (derived from fixed text, like
the example signing keys: never use it anywhere real). One step is decided by an
engine without a KEK, to show `holder_keys_unavailable`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from payments.domain.personal_data import PERSONAL_FIELDS, seal_for_engine

EXAMPLE_HOLDER_KEK = hashlib.sha256(b"payments-engine example holder KEK").digest()
ERIN = {
    "holder_id": "holder-erin",
    "name": "Erin Example",
    "date_of_birth": "1990-04-01",
    "address": "1 Example Street, Exampletown",
    "email": "erin@example.org",
}


def holder_steps(command: Any, step: Any) -> list[Any]:
    """`command(command_id, type, **payload)` and `step(unsigned, expect, **options)`."""
    finn = {**ERIN, "holder_id": "holder-finn", "name": "Finn Example"}
    erase = "the holder's request under GDPR article 17"
    malformed = {**finn, "email": "no-at-sign"}
    return [
        step(command("c-1900", "register_holder", **ERIN), None),
        step(command("c-1901", "register_holder", **ERIN), "holder_exists"),
        step(command("c-1902", "register_holder", **malformed), "invalid_command"),
        step(
            command("c-1903", "register_holder", **finn),
            "holder_keys_unavailable",
            without_holder_key=True,
        ),
        step(
            command("c-1904", "erase_holder", holder_id="holder-zed", reason=erase),
            "holder_not_found",
        ),
        step(command("c-1905", "erase_holder", holder_id="holder-erin", reason=erase), None),
        step(
            command("c-1906", "erase_holder", holder_id="holder-erin", reason=erase),
            "holder_erased",
        ),
        # What PUT /holders/{id} publishes: the fields sealed for the engine.
        step(command("c-1907", "register_holder_sealed", **sealed_for_engine(GWEN)), None),
    ]


GWEN = {**ERIN, "holder_id": "holder-gwen", "name": "Gwen Example", "email": "gwen@example.org"}


def sealed_for_engine(holder: dict[str, str]) -> dict[str, str]:
    fields = {field: holder[field] for field in PERSONAL_FIELDS}
    sealed = seal_for_engine(EXAMPLE_HOLDER_KEK, holder["holder_id"], fields)
    return {"holder_id": holder["holder_id"], "sealed_personal_data": sealed}
