"""The audit hash chain: order, links, and what tampering does to it."""

from __future__ import annotations

import itertools
import uuid

from projections.audit.chain import GENESIS_HASH, audit_content, canonical_json, chain, row_hash
from tests.support.events import EventFactory, from_wire


def contents():
    f = EventFactory()
    f.open_account("A1", overdraft=100)
    f.open_account("B1")
    f.transfer("t-1", "A1", "B1", 50)
    return [audit_content(from_wire(e)) for e in f.events]


def test_each_row_links_to_the_previous_one():
    rows = list(chain(GENESIS_HASH, contents()))
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
        assert after["hash"] == row_hash(before["hash"], {k: after[k] for k in contents()[0]})


def test_changing_one_payload_changes_every_later_hash():
    original = list(chain(GENESIS_HASH, contents()))
    altered = contents()
    at = next(i for i, e in enumerate(altered) if e["event_type"] == "Transfer.Recorded")
    altered[at]["payload"]["amount"] = 51
    tampered = list(chain(GENESIS_HASH, altered))
    assert tampered[:at] == original[:at]
    assert all(a["hash"] != b["hash"] for a, b in zip(original[at:], tampered[at:], strict=True))


def test_canonical_json_ignores_key_order_and_uuid_spelling():
    content = contents()[0]
    respelled = dict(reversed(list(content.items())))
    respelled["aggregate_id"] = uuid.UUID(content["aggregate_id"])
    respelled["payload"] = dict(reversed(list(content["payload"].items())))
    assert canonical_json(respelled) == canonical_json(content)
    assert '"recorded_at":"2026-11-28T10:00:00.001000Z"' in canonical_json(content)
