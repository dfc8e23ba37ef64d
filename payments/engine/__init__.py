"""The engine process: command intake (Kafka → ledger → Kafka) and the event relay."""
