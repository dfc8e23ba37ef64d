"""Kafka consumer loops that feed the projections (nothing domain-specific here).

`loop.ProjectionConsumer`: poll → apply + positions in one PostgreSQL transaction →
commit Kafka offsets. `runner.run_consumers`: one thread per projection until a signal.
"""
