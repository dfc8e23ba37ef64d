"""Bank statements in: CSV, ISO 20022 camt.053 and SWIFT MT940, read into one model."""
