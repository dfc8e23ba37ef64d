"""Observability: Prometheus metrics, a health check, and the HTTP server for both."""
