"""`payments screen pending`'s pure parts: the subjects file and the answers it makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payments.integrations.screening import LocalScreener, Subject
from payments.tools.screen import answers, load_subjects


def test_the_subjects_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "subjects.json"
    path.write_text(json.dumps({"kyc:1": {"name": "Ada Lovelace"},
                                "kyc:2": {"name": "Ivan Placeholder",
                                          "date_of_birth": "1961-04-02"}}))  # fmt: skip
    assert load_subjects(path) == {
        "kyc:1": Subject("Ada Lovelace", ""),
        "kyc:2": Subject("Ivan Placeholder", "1961-04-02"),
    }
    for bad in ("[]", '{"kyc:1": "Ada"}', '{"kyc:1": {"name": 7}}',
                '{"kyc:1": {"name": "Ada", "date_of_birth": 1815}}', "not json"):  # fmt: skip
        path.write_text(bad)
        with pytest.raises(ValueError, match=r"subjects\.json"):
            load_subjects(path)


def test_each_known_subject_gets_one_answer_keyed_by_its_screening() -> None:
    pending = [
        {"screening_id": "scr-1", "subject_ref": "kyc:1"},
        {"screening_id": "scr-2", "subject_ref": "kyc:2"},
        {"screening_id": "scr-3", "subject_ref": "kyc:unknown"},
    ]
    subjects = {"kyc:1": Subject("Ada Lovelace"), "kyc:2": Subject("Ivan Placeholder", "1961")}
    commands, unknown = answers(pending, subjects, LocalScreener())
    assert [(c["command_id"], c["payload"]["result"], c["payload"]["score"]) for c in commands] == [
        ("screening:scr-1", "clear", 0),
        ("screening:scr-2", "hit", 100),
    ]
    assert unknown == [("scr-3", "kyc:unknown")]
    # The same screening answered again is the same command: one decision.
    assert answers(pending, subjects, LocalScreener())[0] == commands
