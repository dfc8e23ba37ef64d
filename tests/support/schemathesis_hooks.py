"""Schemathesis hooks for tests/integration/test_api.py: real ids next to fuzzed ones.

Loaded by the schemathesis CLI (SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks).
Half the generated path parameters are swapped for ids the fixture created (from
PAYMENTS_FUZZ_IDS, a JSON object of parameter -> value) and half the statements'
periods for a valid one, so the lookups' 200 answers are checked against the schema
too, not only their 404s and 422s. Hypothesis draws the choice: still deterministic.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

REAL: dict[str, str] = json.loads(os.environ.get("PAYMENTS_FUZZ_IDS", "{}"))
PERIOD = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, path: dict[str, Any] | None) -> Any:
    if not path:
        return st.just(path)
    real = {name: REAL[name] for name in path if name in REAL}
    return st.sampled_from([path, {**path, **real}])


@schemathesis.hook
def flatmap_query(ctx: Any, query: dict[str, Any] | None) -> Any:
    if not query or "from" not in query:
        return st.just(query)
    return st.sampled_from([query, {**query, **PERIOD}])
