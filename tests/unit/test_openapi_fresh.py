"""docs/openapi.json is what the API's routes and models generate now, in OpenAPI 3.1,
and every error it documents is problem+json."""

from __future__ import annotations

import json

from payments.api.app import create_app
from payments.api.openapi import DEFAULT_PATH, render
from payments.api.problems import MEDIA_TYPE
from payments.runtime.settings import Settings


def test_the_committed_document_is_fresh() -> None:
    assert DEFAULT_PATH.read_text() == render(create_app(Settings())), (
        "run `payments schemas` and commit docs/openapi.json"
    )


def test_every_error_is_a_problem_and_every_read_needs_a_key() -> None:
    document = json.loads(DEFAULT_PATH.read_text())
    assert document["openapi"].startswith("3.1")
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path not in ("/health",):
                    assert set(response["content"]) == {MEDIA_TYPE}, (path, status)
            if path.startswith("/webhooks/"):  # a provider's signature, not a key
                assert operation["security"] == [] and "400" in operation["responses"], path
            elif path not in ("/health", "/metrics"):
                assert {"401", "403", "429"} <= set(operation["responses"]), path
                assert operation["security"] == [{"HTTPBearer": []}], path
