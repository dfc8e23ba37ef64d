"""`payments bench`: throughput, latency, read-model lag, replay and memory, measured
against pgbench's TPC-B and a naive event-sourced baseline on the same PostgreSQL."""
