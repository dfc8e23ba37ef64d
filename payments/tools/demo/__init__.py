"""`payments demo`: a day of a small payments business, end to end through Kafka."""
