"""Names of the write side's tables (part of the public contract, docs/contract.md).

The event store's table names follow from the eventsourcing application's pinned name:
renaming it would move the data.
"""

APPLICATION_NAME = "payments"
EVENTS_TABLE = f"{APPLICATION_NAME}_events"
SNAPSHOTS_TABLE = f"{APPLICATION_NAME}_snapshots"
INTAKE_POSITIONS_TABLE = "engine_intake_positions"
RELAY_POSITION_TABLE = "relay_position"
HOLDER_KEYS_TABLE = "holder_keys"  # mutable: a holder's wrapped data key, deleted on erasure
