"""The payments domain: aggregates, their events and the command handlers.

Pure Python on top of eventsourcing's `Aggregate`; no I/O imports here. Every
handler checks every rule before it triggers any event (check-then-act), so a
rejected command never leaves a half-mutated aggregate behind.
"""
