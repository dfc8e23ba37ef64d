"""Names of the PostgreSQL roles each process logs in as (docs/security.md, "Database roles").

The schema install grants each role what its process needs and nothing else; the
names are fixed so that every install (`payments services up`, `payments db init`,
compose, a bench database) grants the same rights to the same roles.
"""

ENGINE_ROLE = "payments_engine"  # the engine and its relay: append events, write snapshots
PROJECTOR_ROLE = "payments_projector"  # the consumers and replay: own the projection tables
QUERY_ROLE = "payments_query"  # balance/payment/settlement queries: read projections only
AUDIT_ROLE = "payments_audit"  # verify and history: read everything, write nothing
# The API's statement imports (POST /statements/imports): read the store and the read
# side, append events of BankStatement and ReconciliationException only (a trigger).
RECONCILER_ROLE = "payments_reconciler"
PROCESS_ROLES = (ENGINE_ROLE, PROJECTOR_ROLE, QUERY_ROLE, AUDIT_ROLE, RECONCILER_ROLE)
