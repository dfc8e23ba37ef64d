"""The read side: projection tables, the pure rules that fill them, and the tools
that rebuild and check them against the event store.

- `events`: the relayed event dict (parse, check). `decode`: stored rows to it, fast.
- `balances`, `settlements`, `audit`: pure folds and the hash chain (no I/O).
- `apply_*`: one batch of events into the tables, idempotent (versions, positions).
- `schema`, `positions`, `sqlrows`: DDL, consumer offsets, bulk row I/O.
- `read_model`, `replay`, `verify`, `history`, `queries`, `source`: rebuild, check,
  look back, look up; `cli`: the `payments` subcommands of the read side.
"""
