"""`payments reconcile`: bank statements in, matched against the ledger, reported."""
