"""Bank statements against the ledger, imported: by the operator's `payments reconcile
import` and by the API's POST /reconciliation/imports (as the reconciler role)."""
