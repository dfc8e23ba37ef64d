"""The HTTP API (`payments api`): authenticated reads of the projection tables.

Its own process, logged in with the query role (it never sees the event store);
API keys and roles come from the `principals` projection. docs/api.md describes it.
"""
