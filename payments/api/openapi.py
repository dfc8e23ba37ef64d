"""The OpenAPI 3.1 document: FastAPI's, with errors as problem+json.

FastAPI documents its own 422 (`HTTPValidationError`, application/json); this API
answers every error as a `Problem` (payments.api.problems), so the document says so.
`payments schemas` writes it to docs/openapi.json; a unit test keeps that fresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from payments.api.problems import Problem, problem_responses

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    invalid = problem_responses(422)[422]
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = invalid
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return document


def render(app: FastAPI) -> str:
    return json.dumps(build_openapi(app), indent=2, sort_keys=True) + "\n"


def write(app: FastAPI, path: Path = DEFAULT_PATH) -> bool:
    """Write the document; True when it changed."""
    text = render(app)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
