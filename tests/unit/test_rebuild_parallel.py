"""Decoding in worker processes gives what decoding here gives, in order, fallbacks included."""

from __future__ import annotations

from payments.contract.wire import event_message
from payments.ledger.store import in_memory_application
from projections.audit.chain import audit_content, canonical_bytes
from projections.events import check_event
from projections.rebuild.parallel import COPY_LINES, copy_line, decode_in_order
from tests.support.signing import signed_ledger
from tests.unit.test_projection_decode import business


def stored_rows():
    app = in_memory_application()
    ledger = signed_ledger(app)
    for raw in business():
        ledger.decide(raw)
    notifications = app.recorder.select_notifications(start=1, limit=1000)
    rows = [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]
    return app, rows


def test_workers_decode_as_this_process_does_with_the_mapper_for_odd_rows():
    app, rows = stored_rows()
    rows_before = {r[0]: r[4] for r in rows}
    # One row only the mapper reads (a transcoded value): its chunk comes back here.
    odd = 3
    position, originator_id, version, topic, state = rows[odd]
    odd_state = state.rstrip(b"}") + b', "zz": {"_type_": "odd", "_data_": 0}}'
    rows[odd] = (position, originator_id, version, topic, odd_state)
    mapped: list[int] = []

    def fallback(position, originator_id, version, topic, state):
        from eventsourcing.persistence import Notification

        mapped.append(position)
        clean = rows_before[position]
        note = Notification(originator_id, version, topic, clean, position)
        return check_event(event_message(note, app.mapper))

    chunks = [rows[i : i + 4] for i in range(0, len(rows), 4)]
    keep = frozenset({"Account.Debited", "Account.Credited"})
    here = list(decode_in_order(chunks, keep, COPY_LINES, fallback, lambda p: {}, workers=0))
    there = list(decode_in_order(chunks, keep, COPY_LINES, fallback, lambda p: {}, workers=2))
    assert mapped == [rows[odd][0], rows[odd][0]]  # once per run, always in this process
    assert [p.positions for p in there] == [p.positions for p in here]
    assert [p.positions for p in here] == [[r[0] for r in chunk] for chunk in chunks]
    assert [p.events for p in there] == [p.events for p in here]
    assert [p.canonical for p in there] == [p.canonical for p in here]
    assert [p.copy_lines for p in there] == [p.copy_lines for p in here]
    events = [e for p in here for e in p.events]
    assert events and {e["event_type"] for e in events} == keep


def test_a_copy_line_escapes_what_copy_text_would_misread():
    app_event = {
        "position": 7,
        "event_id": "0" * 8 + "-0000-5000-8000-" + "0" * 12,
        "event_type": "Account.Debited",
        "aggregate_type": "Account",
        "aggregate_id": "1" * 8 + "-1111-4111-8111-" + "1" * 12,
        "aggregate_version": 2,
        "command_id": "a\tb\\c\nd\re",
        "actor": None,
        "recorded_at": __import__("datetime").datetime(
            2026, 11, 28, tzinfo=__import__("datetime").UTC
        ),
        "payload": {"note": "x\ty", "amount": 5},
    }
    line = copy_line(audit_content(app_event))
    fields = line.decode().split("\t")
    assert fields[:6] == [
        "7",
        app_event["event_id"],
        "Account.Debited",
        "Account",
        app_event["aggregate_id"],
        "2",
    ]
    assert fields[6] == "a\\tb\\\\c\\nd\\re"
    assert fields[7] == "\\N"
    assert fields[8] == "2026-11-28T00:00:00.000000Z"
    assert fields[9] == '{"note":"x\\\\ty","amount":5}'
    assert fields[10] == ""  # prev_hash and hash follow
    assert canonical_bytes(audit_content(app_event))


def _variant(row, **changes):
    """A stored row with its JSON state changed (`timestamp` is the stamp's text)."""
    import json

    position, originator_id, version, topic, state = row
    document = json.loads(state)
    stamp = changes.pop("timestamp", None)
    if stamp is not None:
        document["timestamp"]["_data_"] = stamp
    document.update(changes)
    return (position, originator_id, version, topic, json.dumps(document).encode())


def test_one_pass_spelling_equals_the_reference_for_every_row_and_odd_envelopes():
    from projections.decode import decode_stored
    from projections.rebuild.parallel import CANONICAL, spell, spell_rows

    _, rows = stored_rows()
    base = rows[len(rows) // 2]
    odd = [
        _variant(base, actor="ops\twith\ttabs\\and\nnewlines"),
        _variant(base, command_id=None, actor=None),
        _variant(base, actor=True, command_id=7),  # not text: the reference path
        _variant(base, timestamp="2026-12-02T10:00:00+02:00"),  # not UTC, no microseconds
        _variant(base, timestamp="0999-01-01T00:00:00.000001+00:00"),  # a 3-digit year
        _variant(base, note="tab\there", big=2**70, nested={"a": [1, 2]}),
    ]
    for audit in (CANONICAL, COPY_LINES):
        for keep in (None, frozenset({"Account.Debited"})):
            one_pass = spell_rows(rows + odd, keep, audit)
            events = [decode_stored(*row, fallback=None) for row in rows + odd]
            reference = spell(events, keep, audit)
            assert one_pass.positions == reference.positions
            assert one_pass.events == reference.events
            assert one_pass.canonical == reference.canonical
            assert one_pass.copy_lines == reference.copy_lines
    assert b"ops\\twith\\ttabs\\\\and\\nnewlines" in spell_rows(odd, None, COPY_LINES).copy_lines[0]
