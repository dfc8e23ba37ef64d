"""The read side: projection tables, the pure rules that fill them, and the tools
that rebuild and check them against the event store.

- `events`: the relayed event dict (parse, check). `decode`: stored rows to it, fast.
- `balances/`, `settlements/`, `audit/`: one folder per projection — its pure fold (or
  hash chain: no I/O) and `apply` (one batch of events into its tables, idempotent).
- `schema`, `positions`, `sqlrows`, `catalog`, `queries`: DDL, consumer offsets, bulk
  row I/O, the projection table, lookups.
- `rebuild/`: `read_model`, `replay`, `verify`, `history`, `source` (the event store).
"""
